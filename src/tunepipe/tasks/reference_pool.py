"""The built-in pool of the ``reference`` family: short instruction / reference pairs written
for this project and generated deterministically from a seed, in the schema of the
BLEUBERI-Tulu3-50k pool (``id``, ``source``, ``messages``, ``ref_output_gold``,
``ref_output_<model>``).

Every reference follows from its instruction (templated rewriting, listing, counting,
formatting, a small table of facts), so a tiny model can learn the mapping and its BLEU can
move. Answers are short (at most ~12 tokens) to fit the default 16-token completions.
Some templates also give a second, differently worded reference in ``ref_output_alt``
(null where there is none): ``collect.reference.ref_models: [gold, alt]`` trains on both
and drops the rows without one, as the BLEUBERI pool does with its model references.

>>> rows = pool(50, seed=0)
>>> len(rows), len({r["messages"][0]["content"] for r in rows})
(50, 50)
>>> pool(50, seed=0) == rows
True
"""
from __future__ import annotations

import random

WORDS = ["cat", "dog", "sun", "tree", "bird", "fish", "book", "lamp", "rock", "cup", "star", "road", "boat",
         "milk", "rain", "door", "hat", "bell", "leaf", "moon", "ship", "cake", "wind", "frog"]
COLOURS = ["red", "blue", "green", "black", "white", "pink", "brown", "grey"]
ADJECTIVES = ["big", "small", "old", "new", "fast", "slow", "warm", "cold", "soft", "loud"]
NAMES = ["Ana", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena"]
CAPITALS = {"France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Japan": "Tokyo", "Egypt": "Cairo",
            "Peru": "Lima", "Kenya": "Nairobi", "Norway": "Oslo", "Greece": "Athens", "Cuba": "Havana",
            "Chile": "Santiago", "Poland": "Warsaw", "Canada": "Ottawa", "Ireland": "Dublin",
            "Austria": "Vienna", "Portugal": "Lisbon", "Hungary": "Budapest", "Sweden": "Stockholm",
            "Finland": "Helsinki", "Thailand": "Bangkok", "Germany": "Berlin", "Russia": "Moscow",
            "China": "Beijing", "India": "New Delhi", "Mexico": "Mexico City", "Ghana": "Accra"}
OPPOSITES = {"hot": "cold", "big": "small", "fast": "slow", "up": "down", "old": "new", "day": "night",
             "open": "closed", "wet": "dry", "light": "dark", "early": "late", "full": "empty",
             "hard": "soft", "high": "low", "loud": "quiet", "happy": "sad", "rich": "poor"}
PLURALS = {"cat": "cats", "dog": "dogs", "box": "boxes", "fox": "foxes", "bus": "buses", "city": "cities",
           "baby": "babies", "leaf": "leaves", "wolf": "wolves", "child": "children", "mouse": "mice",
           "foot": "feet", "tooth": "teeth", "man": "men", "book": "books", "star": "stars"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _words(rng: random.Random, k: int, pool=WORDS) -> list[str]:
    return rng.sample(pool, k)


def reverse_words(rng):
    w = _words(rng, rng.randint(3, 5))
    return f"Reverse the order of the words: {' '.join(w)}", " ".join(reversed(w)), None


def uppercase(rng):
    w = _words(rng, rng.randint(2, 4))
    return f"Write in uppercase: {' '.join(w)}", " ".join(w).upper(), None


def sort_words(rng):
    w = _words(rng, rng.randint(3, 5))
    s = sorted(w)
    return f"Sort these words alphabetically: {' '.join(w)}", " ".join(s), ", ".join(s)


def evens_below(rng):
    n = rng.randint(4, 12)
    ev = [str(i) for i in range(0, n, 2)]
    return f"List the even numbers below {n}.", ", ".join(ev), " ".join(ev)


def odds_below(rng):
    n = rng.randint(4, 12)
    od = [str(i) for i in range(1, n, 2)]
    return f"List the odd numbers below {n}.", ", ".join(od), " ".join(od)


def count_range(rng):
    a = rng.randint(0, 20)
    b = a + rng.randint(2, 5)
    r = [str(i) for i in range(a, b + 1)]
    return f"Count from {a} to {b}.", ", ".join(r), " ".join(r)


def repeat_word(rng):
    w, k = rng.choice(WORDS), rng.randint(2, 5)
    return f"Repeat the word {w} {NUMBER_WORDS[k]} times.", " ".join([w] * k), None


def first_letters(rng):
    w = _words(rng, rng.randint(3, 5))
    return f"Give the first letter of each word: {' '.join(w)}", " ".join(x[0] for x in w), None


def join_commas(rng):
    w = _words(rng, rng.randint(3, 4))
    return f"Join the words with commas: {' '.join(w)}", ", ".join(w), None


def capital(rng):
    country = rng.choice(sorted(CAPITALS))
    city = CAPITALS[country]
    return f"What is the capital of {country}?", f"The capital of {country} is {city}.", city


def add(rng):
    a, b = rng.randint(1, 30), rng.randint(1, 30)
    return f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}.", str(a + b)


def opposite(rng):
    w = rng.choice(sorted(OPPOSITES))
    return f"What is the opposite of {w}?", f"The opposite of {w} is {OPPOSITES[w]}.", OPPOSITES[w]


def plural(rng):
    w = rng.sample(sorted(PLURALS), rng.randint(1, 3))
    return f"Write the plural of: {' '.join(w)}", " ".join(PLURALS[x] for x in w), None


def describe(rng):
    adj, colour, noun = rng.choice(ADJECTIVES), rng.choice(COLOURS), rng.choice(WORDS)
    return (f"Describe a {adj} {colour} {noun} in one short sentence.", f"The {noun} is {adj} and {colour}.",
            f"It is a {adj} {colour} {noun}.")


def double(rng):
    xs = [rng.randint(1, 9) for _ in range(rng.randint(2, 4))]
    return f"Double each number: {' '.join(map(str, xs))}", " ".join(str(2 * x) for x in xs), None


def last_word(rng):
    w = _words(rng, rng.randint(3, 5))
    return f"What is the last word of: {' '.join(w)}", w[-1], f"The last word is {w[-1]}."


def count_words(rng):
    w = _words(rng, rng.randint(2, 6))
    n = len(w)
    return f"How many words are in: {' '.join(w)}", f"There are {n} words.", str(n)


def swap_ends(rng):
    w = _words(rng, rng.randint(3, 5))
    s = [w[-1], *w[1:-1], w[0]]
    return f"Swap the first and last words: {' '.join(w)}", " ".join(s), None


def greet(rng):
    name = rng.choice(NAMES)
    return f"Greet {name} politely.", f"Hello, {name}! Nice to meet you.", f"Good day, {name}."


def colour_of(rng):
    name, colour, noun = rng.choice(NAMES), rng.choice(COLOURS), rng.choice(WORDS)
    return (f"{name} has a {colour} {noun}. What colour is the {noun}?", f"The {noun} is {colour}.", colour)


TEMPLATES = [reverse_words, uppercase, sort_words, evens_below, odds_below, count_range, repeat_word,
             first_letters, join_commas, capital, add, opposite, plural, describe, double, last_word,
             count_words, swap_ends, greet, colour_of]


def pool(size: int, seed: int) -> list[dict]:
    """``size`` rows with distinct instructions, in the BLEUBERI pool schema: the templates
    take turns; when one repeats an instruction already drawn (small ones such as ``greet``
    run out), random templates are tried until a new one comes."""
    if size < 0:
        raise ValueError(f"pool_size: expected a non-negative int, got {size!r}")
    rng = random.Random(f"reference-pool/{seed}")
    rows, seen, misses = [], set(), 0
    while len(rows) < size and misses < 50 * size + 1000:
        make = TEMPLATES[len(rows) % len(TEMPLATES)] if misses == 0 else rng.choice(TEMPLATES)
        instruction, gold, alt = make(rng)
        if instruction in seen:
            misses += 1
            continue
        misses = 0
        seen.add(instruction)
        rows.append({
            "id": f"builtin-{len(rows):05d}",
            "source": make.__name__,
            "messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": gold}],
            "ref_output_gold": gold,
            "ref_output_alt": alt,
        })
    return rows
