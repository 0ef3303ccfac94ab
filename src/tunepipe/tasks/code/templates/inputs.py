"""Random stdin pieces shared by the program templates."""


def _ints(r, k, lo, hi):
    return " ".join(str(r.randint(lo, hi)) for _ in range(k))


def _word(r, alphabet, lo, hi):
    return "".join(r.choice(alphabet) for _ in range(r.randint(lo, hi)))


_WORDS = ("apple", "pear", "plum", "fig", "kiwi", "lime", "date", "melon", "grape",
          "cherry", "lemon", "mango", "peach", "berry", "nut", "oak", "pine", "elm")


def _list_input(lo, hi, nlo=3, nhi=8):
    def gen(r):
        n = r.randint(nlo, nhi)
        return f"{n}\n{_ints(r, n, lo, hi)}"
    return gen


def _grid(r, chars=".#"):
    rows, cols = r.randint(2, 5), r.randint(2, 6)
    return f"{rows} {cols}\n" + "\n".join(_word(r, chars, cols, cols) for _ in range(rows))
