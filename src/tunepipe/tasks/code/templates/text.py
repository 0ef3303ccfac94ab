"""Program templates on strings and words (see :mod:`tunepipe.tasks.code.templates`)."""
import string

from .inputs import _WORDS, _word


def t_sort_words(r):
    key, desc = r.choice([("w", "alphabetically"), ("(len(w), w)", "by length, ties alphabetically"),
                          ("(-len(w), w)", "by decreasing length, ties alphabetically")])
    rev = r.random() < 0.3 and key == "w"
    prog = ("words = input().split()\n"
            f"words.sort(key=lambda w: {key}{', reverse=True' if rev else ''})\n"
            "print(' '.join(words))")
    st = (f"Read one line of words separated by spaces and print them sorted "
          f"{'in reverse alphabetical order' if rev else desc}, separated by single spaces.")
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(3, 7)))


def t_count_char(r):
    c = r.choice("abcde")
    if r.random() < 0.5:
        prog = ("s = input().strip()\n"
                f"count = s.count('{c}')\n"
                "print(count)")
        st = f"Read a string and print how many times the letter '{c}' occurs in it."
    else:
        prog = ("s = input().strip()\n"
                f"pos = s.find('{c}')\n"
                "print(pos)")
        st = (f"Read a string and print the 0-based position of the first '{c}' in it, or -1 "
              f"if there is none.")
    return st, prog, lambda r: _word(r, "abcdef", 4, 14)


def t_reverse(r):
    mode = r.choice(["words", "chars", "each"])
    body = {"words": "print(' '.join(reversed(s.split())))",
            "chars": "print(s[::-1])",
            "each": "print(' '.join(w[::-1] for w in s.split()))"}[mode]
    what = {"words": "the words in reverse order", "chars": "the whole line reversed",
            "each": "every word reversed, keeping the word order"}[mode]
    prog = "line = input()\ns = line.strip()\n" + body
    st = f"Read a line of lowercase words separated by single spaces and print {what}."
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(2, 5)))


def t_palindrome(r):
    yes, no = r.choice([("YES", "NO"), ("palindrome", "not palindrome"), ("1", "0")])
    prog = ("s = input().strip().lower()\n"
            "rev = s[::-1]\n"
            f"print('{yes}' if s == rev else '{no}')")
    st = (f"Read a word and print '{yes}' if it reads the same backwards (ignoring case), "
          f"otherwise '{no}'.")

    def gen(r):
        half = _word(r, "abcr", 1, 4)
        return r.choice([half + half[::-1], half + r.choice("xyz") + half[::-1], half + "q"])
    return st, prog, gen


def t_vowels(r):
    vowels = r.choice(["aeiou", "aeiouy"])
    cons = r.random() < 0.4
    prog = ("s = input().lower()\n"
            "letters = [ch for ch in s if ch.isalpha()]\n"
            f"print(sum(1 for ch in letters if ch {'not in' if cons else 'in'} '{vowels}'))")
    st = (f"Read a line and print how many of its letters are "
          f"{'not ' if cons else ''}among '{vowels}' (case-insensitive).")
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(1, 4)))


def t_caesar(r):
    k = r.randint(1, 25)
    prog = ("s = input().strip()\n"
            "out = ''\n"
            "for ch in s:\n"
            f"    out += chr((ord(ch) - 97 + {k}) % 26 + 97)\n"
            "print(out)")
    st = (f"Read a word of lowercase letters and shift every letter {k} places forward in "
          f"the alphabet (wrapping from z to a); print the result.")
    return st, prog, lambda r: _word(r, string.ascii_lowercase, 3, 9)


def t_rle(r):
    letter_first = r.random() < 0.5
    prog = ("s = input().strip()\n"
            "out = []\n"
            "i = 0\n"
            "while i < len(s):\n"
            "    j = i\n"
            "    while j < len(s) and s[j] == s[i]:\n"
            "        j += 1\n"
            f"    out.append({'s[i] + str(j - i)' if letter_first else 'str(j - i) + s[i]'})\n"
            "    i = j\n"
            "print(''.join(out))")
    st = ("Read a word and print its run-length encoding: each maximal run of equal letters "
          + ("becomes the letter followed by the run length (e.g. aaab -> a3b1)." if letter_first
             else "becomes the run length followed by the letter (e.g. aaab -> 3a1b)."))
    return st, prog, lambda r: "".join(r.choice("abc") * r.randint(1, 4) for _ in range(r.randint(2, 5)))


def t_most_common(r):
    f, what = r.choice([("max", "most"), ("min", "least")])
    g, tie = r.choice([("min", "smallest"), ("max", "largest")])
    prog = ("from collections import Counter\n"
            "words = input().split()\n"
            "c = Counter(words)\n"
            f"best = {f}(c.values())\n"
            f"print({g}(w for w in c if c[w] == best), best)")
    st = (f"Read a line of words. Print the {what} frequent word and its count; on a tie print "
          f"the alphabetically {tie} of those words.")
    return st, prog, lambda r: " ".join(r.choice(_WORDS[:5]) for _ in range(r.randint(3, 8)))


def t_brackets(r):
    yes, no = r.choice([("YES", "NO"), ("balanced", "unbalanced")])
    prog = ("s = input().strip()\n"
            "depth = 0\n"
            "ok = True\n"
            "for ch in s:\n"
            "    depth += 1 if ch == '(' else -1\n"
            "    if depth < 0:\n"
            "        ok = False\n"
            f"print('{yes}' if ok and depth == 0 else '{no}')")
    st = (f"Read a string of '(' and ')' and print '{yes}' if the brackets are balanced, "
          f"otherwise '{no}'.")

    def gen(r):
        if r.random() < 0.5:
            s = ""
            for _ in range(r.randint(1, 4)):
                s = r.choice(["(" + s + ")", s + "()", "()" + s])
            return s
        return _word(r, "()", 2, 8)
    return st, prog, gen


def t_anagram(r):
    yes, no = r.choice([("YES", "NO"), ("anagram", "different"), ("1", "0")])
    prog = ("a = input().strip()\n"
            "b = input().strip()\n"
            f"print('{yes}' if sorted(a) == sorted(b) else '{no}')")
    st = (f"Read two words, one per line, and print '{yes}' if they are anagrams of each other, "
          f"otherwise '{no}'.")

    def gen(r):
        a = _word(r, "abcde", 3, 7)
        b = list(a)
        r.shuffle(b)
        if r.random() < 0.4:
            b[0] = r.choice("xyz")
        return a + "\n" + "".join(b)
    return st, prog, gen


def t_case(r):
    op, what = r.choice([("s.swapcase()", "with the case of every letter swapped"),
                         ("s.title()", "with every word capitalised"),
                         ("s.upper()", "in upper case"),
                         ("' '.join(w[0].upper() for w in s.split())", "as the initials of its words, in upper case, separated by spaces")])
    prog = ("s = input().strip()\n"
            f"result = {op}\n"
            "print(result)")
    st = f"Read a line of words and print it {what}."

    def gen(r):
        return " ".join(w.capitalize() if r.random() < 0.3 else w
                        for w in (r.choice(_WORDS) for _ in range(r.randint(1, 4))))
    return st, prog, gen


def t_word_lengths(r):
    k = r.randint(3, 6)
    expr, what = r.choice([("' '.join(str(len(w)) for w in words)", "the length of every word, separated by spaces"),
                           ("max(words, key=len)", "the first longest word"),
                           ("min(words, key=len)", "the first shortest word"),
                           (f"sum(1 for w in words if len(w) > {k})", f"how many words have more than {k} letters"),
                           (f"' '.join(w for w in words if len(w) <= {k}) or '-'",
                            f"the words with at most {k} letters, separated by spaces ('-' if none)")])
    prog = ("words = input().split()\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read a line of words separated by spaces and print {what}."
    return st, prog, lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(2, 6)))


def t_letter_counts(r):
    mode = r.choice(["table", "unique", "first_single"])
    if mode == "table":
        prog = ("s = input().strip()\n"
                "for ch in sorted(set(s)):\n"
                "    print(ch, s.count(ch))")
        what = "every distinct letter in alphabetical order with its count, one per line"
    elif mode == "unique":
        prog = ("s = input().strip()\n"
                "seen = []\n"
                "for ch in s:\n"
                "    if ch not in seen:\n"
                "        seen.append(ch)\n"
                "print(''.join(seen))")
        what = "its letters without repetitions, in order of first appearance"
    else:
        prog = ("s = input().strip()\n"
                "single = [ch for ch in s if s.count(ch) == 1]\n"
                "print(single[0] if single else '_')")
        what = "its first letter that occurs only once ('_' if there is none)"
    st = f"Read a word and print {what}."
    return st, prog, lambda r: _word(r, "abcde", 3, 10)


def t_filter_chars(r):
    expr, what = r.choice([("''.join(ch for ch in s if ch not in 'aeiou')", "with every vowel (a, e, i, o, u) removed"),
                           ("''.join(ch for ch in s if ch.isdigit()) or 'none'", "keeping only its digits ('none' if there are none)"),
                           ("''.join(ch for i, ch in enumerate(s) if i == 0 or ch != s[i - 1])", "with runs of equal characters collapsed to one"),
                           ("''.join(ch for ch in s if ch.isalpha())", "keeping only its letters")])
    prog = ("s = input().strip()\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read a string and print it {what}."
    return st, prog, lambda r: _word(r, "aabeio1237xyz", 4, 12)


def t_substring_count(r):
    pat = r.choice(["ab", "aa", "ba", "aba", "bb"])
    prog = ("s = input().strip()\n"
            f"pat = '{pat}'\n"
            "print(sum(1 for i in range(len(s)) if s.startswith(pat, i)))")
    st = f"Read a string of a's and b's and print how many times '{pat}' occurs in it (overlaps count)."
    return st, prog, lambda r: _word(r, "ab", 3, 14)


def t_initial_count(r):
    c = r.choice("abcdlmp")
    prog = ("words = input().split()\n"
            f"hits = [w for w in words if w.startswith('{c}')]\n"
            "print(len(hits))")
    st = f"Read a line of words and print how many of them start with the letter '{c}'."
    words = ("apple", "banana", "cherry", "date", "lime", "lemon", "mango", "plum", "peach", "apricot",
             "blueberry", "cranberry", "damson", "melon", "papaya")
    return st, prog, lambda r: " ".join(r.choice(words) for _ in range(r.randint(2, 7)))
