"""Program templates on lists, tables, grids and matrices (see
:mod:`tunepipe.tasks.code.templates`)."""
from .inputs import _grid, _ints, _list_input


def t_sum_divisible(r):
    k = r.choice([2, 3, 4, 5, 6, 7])
    agg, what = r.choice([("sum(", "the sum of"), ("sum(1 for _ in (", "how many there are of")])
    close = ")" if agg == "sum(" else "))"
    prog = ("n = int(input())\n"
            "nums = list(map(int, input().split()))\n"
            f"print({agg}x for x in nums if x % {k} == 0{close})")
    st = (f"The first line holds an integer n, the second n integers. Print {what} the "
          f"integers that are divisible by {k} (0 if there are none).")
    return st, prog, _list_input(-20, 60)


def t_range_stat(r):
    op, what = r.choice([("max(a) - min(a)", "the largest minus the smallest"),
                         ("max(a)", "the largest"), ("min(a)", "the smallest"),
                         ("max(a) + min(a)", "the largest plus the smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({op})")
    st = f"The first line holds n, the second n integers. Print {what} of them."
    return st, prog, _list_input(-50, 99)


def t_grid_total(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "total = 0\n"
            "for _ in range(r):\n"
            f"    total += input().count('{ch}')\n"
            "print(total)")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). "
          f"Print how many '{ch}' the grid contains.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_grid_rows(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "for _ in range(r):\n"
            "    row = input()\n"
            f"    print(row.count('{ch}'))")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). For "
          f"each row print the number of '{ch}' in it, one per line.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_grid_cols(r):
    ch = r.choice("#*o@")
    prog = ("r, c = map(int, input().split())\n"
            "grid = [input() for _ in range(r)]\n"
            "for j in range(c):\n"
            f"    print(sum(1 for row in grid if row[j] == '{ch}'))")
    st = (f"The first line holds r and c, then r lines of c characters ('.' or '{ch}'). For "
          f"each column, left to right, print the number of '{ch}' in it, one per line.")
    return st, prog, lambda r: _grid(r, "." + ch)


def t_prefix_sums(r):
    init, upd, what = r.choice([("0", "s + x", "the running totals (prefix sums)"),
                                ("a[0]", "max(s, x)", "the running maximum"),
                                ("a[0]", "min(s, x)", "the running minimum")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"s = {init}\n"
            "res = []\n"
            "for x in a:\n"
            f"    s = {upd}\n"
            "    res.append(s)\n"
            "print(*res)")
    st = f"Read n, then n integers. Print {what} after each of them, separated by spaces."
    return st, prog, _list_input(-9, 20, 2, 7)


def t_pair_sums(r):
    rel = r.choice(["==", "<", ">", "<=", ">="])
    prog = ("n, t = map(int, input().split())\n"
            "a = list(map(int, input().split()))\n"
            "cnt = 0\n"
            "for i in range(n):\n"
            "    for j in range(i + 1, n):\n"
            f"        if a[i] + a[j] {rel} t:\n"
            "            cnt += 1\n"
            "print(cnt)")
    st = ("The first line holds n and t, the second n integers. Print how many pairs of "
          f"positions i < j have a[i] + a[j] {rel.replace('==', '=')} t.")

    def gen(r):
        n = r.randint(3, 8)
        return f"{n} {r.randint(2, 12)}\n{_ints(r, n, 0, 10)}"
    return st, prog, gen


def t_second_largest(r):
    idx, what = r.choice([("-2", "second largest"), ("1", "second smallest")])
    prog = ("n = int(input())\n"
            "a = sorted(set(map(int, input().split())))\n"
            f"print(a[{idx}] if len(a) > 1 else -1)")
    st = (f"Read n, then n integers. Print the {what} distinct value, or -1 if all "
          "values are equal.")
    return st, prog, _list_input(0, 12, 2, 7)


def t_col_sums(r):
    op, what = r.choice([("sum", "sum"), ("max", "maximum"), ("min", "minimum")])
    prog = ("r, c = map(int, input().split())\n"
            "rows = [list(map(int, input().split())) for _ in range(r)]\n"
            "for j in range(c):\n"
            f"    print({op}(row[j] for row in rows))")
    st = (f"Read r and c, then an r x c table of integers (one row per line). Print the "
          f"{what} of each column, one per line.")

    def gen(r):
        rr, cc = r.randint(2, 4), r.randint(2, 4)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -9, 30) for _ in range(rr))
    return st, prog, gen


def t_row_sums(r):
    op, what = r.choice([("sum", "sum"), ("max", "maximum"), ("min", "minimum")])
    prog = ("r, c = map(int, input().split())\n"
            "for _ in range(r):\n"
            f"    print({op}(map(int, input().split())))")
    st = f"Read r and c, then an r x c table of integers. Print the {what} of each row, one per line."

    def gen(r):
        rr, cc = r.randint(1, 4), r.randint(2, 5)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -9, 30) for _ in range(rr))
    return st, prog, gen


def t_even_odd(r):
    first = r.choice(["even", "odd"])
    a, b = ("x % 2 == 0", "x % 2") if first == "even" else ("x % 2", "x % 2 == 0")
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(*[x for x in a if {a}], *[x for x in a if {b}])")
    st = (f"Read n, then n integers. Print the {first} numbers first, then the others, each "
          f"group in input order, separated by spaces.")
    return st, prog, _list_input(0, 40, 3, 8)


def t_kadane(r):
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            "best = cur = a[0]\n"
            "for x in a[1:]:\n"
            f"    cur = {f}(x, cur + x)\n"
            f"    best = {f}(best, cur)\n"
            "print(best)")
    st = f"Read n, then n integers. Print the {what} sum of a non-empty contiguous block of them."
    return st, prog, _list_input(-9, 9, 3, 8)


def t_distinct(r):
    if r.random() < 0.5:
        prog = ("n = int(input())\n"
                "a = input().split()\n"
                "print(len(set(a)))")
        st = "Read n, then n values on one line. Print how many different values there are."
    else:
        prog = ("n = int(input())\n"
                "a = input().split()\n"
                "seen = set()\n"
                "for x in a:\n"
                "    if x in seen:\n"
                "        print(x)\n"
                "        break\n"
                "    seen.add(x)\n"
                "else:\n"
                "    print('none')")
        st = ("Read n, then n values on one line. Print the first value that appears for the "
              "second time, or 'none' if all values are different.")
    return st, prog, _list_input(1, 9, 3, 8)


def t_records(r):
    rel, what = r.choice([(">", "larger"), ("<", "smaller")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            "best = None\n"
            "cnt = 0\n"
            "for x in a:\n"
            f"    if best is None or x {rel} best:\n"
            "        best = x\n"
            "        cnt += 1\n"
            "print(cnt)")
    st = f"Read n, then n integers. Print how many of them are {what} than every integer before them."
    return st, prog, _list_input(0, 30, 3, 8)


def t_average(r):
    mode = r.choice(["floor", "round2"])
    expr = "sum(a) // n" if mode == "floor" else "f'{sum(a) / n:.2f}'"
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({expr})")
    what = "rounded down to an integer" if mode == "floor" else "with exactly two decimals"
    st = f"Read n, then n integers. Print their average, {what}."
    return st, prog, _list_input(0, 100, 2, 6)


def t_count_above(r):
    rel, what = r.choice([(">", "greater than"), ("<", "less than"), (">=", "at least")])
    prog = ("n, k = map(int, input().split())\n"
            "a = list(map(int, input().split()))\n"
            f"print(sum(1 for x in a if x {rel} k))")
    st = (f"The first line holds n and k, the second n integers. Print how many of them are "
          f"{what} k.")

    def gen(r):
        n = r.randint(3, 8)
        return f"{n} {r.randint(0, 20)}\n{_ints(r, n, 0, 25)}"
    return st, prog, gen


def t_diagonal(r):
    expr, what = r.choice([("sum(m[i][i] for i in range(n))", "the sum of its main diagonal"),
                           ("sum(m[i][n - 1 - i] for i in range(n))", "the sum of its anti-diagonal"),
                           ("max(m[i][i] for i in range(n))", "the largest value on its main diagonal"),
                           ("sum(map(sum, m)) - sum(m[i][i] for i in range(n))",
                            "the sum of the values off its main diagonal")])
    prog = ("n = int(input())\n"
            "m = [list(map(int, input().split())) for _ in range(n)]\n"
            f"print({expr})")
    st = f"Read n, then an n x n matrix of integers (one row per line). Print {what}."

    def gen(r):
        n = r.randint(2, 4)
        return f"{n}\n" + "\n".join(_ints(r, n, -5, 20) for _ in range(n))
    return st, prog, gen


def t_transpose(r):
    mode = r.choice(["transpose", "rotate", "mirror", "flip"])
    body = {"transpose": "for j in range(c):\n    print(' '.join(row[j] for row in m))",
            "rotate": "for j in range(c):\n    print(' '.join(row[j] for row in reversed(m)))",
            "mirror": "for row in m:\n    print(' '.join(reversed(row)))",
            "flip": "for row in reversed(m):\n    print(' '.join(row))"}[mode]
    what = {"transpose": "its transpose", "rotate": "it rotated 90 degrees clockwise",
            "mirror": "it with every row reversed", "flip": "it with the rows in reverse order"}[mode]
    prog = ("r, c = map(int, input().split())\n"
            "m = [input().split() for _ in range(r)]\n" + body)
    st = f"Read r and c, then an r x c table of integers. Print {what}, values separated by spaces."

    def gen(r):
        rr, cc = r.randint(2, 3), r.randint(2, 4)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, 0, 9) for _ in range(rr))
    return st, prog, gen


def t_balance(r):
    expr, what = r.choice([("bal", "the final balance"), ("low", "the lowest balance reached"),
                           ("neg", "how many operations left the balance negative")])
    prog = ("n = int(input())\n"
            "bal = low = neg = 0\n"
            "for _ in range(n):\n"
            "    bal += int(input())\n"
            "    low = min(low, bal)\n"
            "    neg += bal < 0\n"
            f"print({expr})")
    st = (f"An account starts at 0. Read n, then n lines each with a deposit (positive) or a "
          f"withdrawal (negative). Print {what}.")

    def gen(r):
        n = r.randint(2, 6)
        return f"{n}\n" + "\n".join(str(r.randint(-30, 30)) for _ in range(n))
    return st, prog, gen


def t_stack(r):
    peek = r.choice(["top", "size"])
    prog = ("out = []\n"
            "st = []\n"
            "for _ in range(int(input())):\n"
            "    cmd = input().split()\n"
            "    if cmd[0] == 'push':\n"
            "        st.append(cmd[1])\n"
            "    elif cmd[0] == 'pop' and st:\n"
            "        st.pop()\n"
            + ("print(st[-1] if st else 'empty')" if peek == "top" else "print(len(st))"))
    what = "the value on top of the stack at the end ('empty' if none)" if peek == "top" \
        else "how many values are on the stack at the end"
    st_ = ("Read n, then n commands: 'push x' pushes x on a stack, 'pop' removes the top value "
           f"(if any). Print {what}.")

    def gen(r):
        n = r.randint(2, 6)
        return f"{n}\n" + "\n".join(r.choice([f"push {r.randint(1, 9)}", f"push {r.randint(1, 9)}", "pop"])
                                    for _ in range(n))
    return st_, prog, gen


def t_inversions(r):
    rel, what = r.choice([(">", "a[i] > a[j]"), ("<", "a[i] < a[j]"), ("==", "a[i] = a[j]")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(sum(1 for i in range(n) for j in range(i + 1, n) if a[i] {rel} a[j]))")
    st = f"Read n, then n integers a[0..n-1]. Print how many pairs i < j have {what}."
    return st, prog, _list_input(0, 9, 2, 8)


def t_window(r):
    k = r.randint(2, 4)
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({f}(sum(a[i:i + {k}]) for i in range(n - {k - 1})))")
    st = f"Read n (at least {k}), then n integers. Print the {what} sum of {k} consecutive values."
    return st, prog, _list_input(-9, 20, k, k + 5)


def t_scale(r):
    k = r.randint(2, 6)
    op, what = r.choice([("*", f"multiplied by {k}"), ("%", f"modulo {k}"), ("//", f"divided by {k}, rounded down")])
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print(*[x {op} {k} for x in a])")
    st = f"Read n, then n integers. Print each of them {what}, separated by spaces."
    return st, prog, _list_input(0, 50, 2, 7)


def t_rotate_list(r):
    k = r.randint(1, 3)
    left = r.random() < 0.5
    expr = f"a[{k} % n:] + a[:{k} % n]" if left else f"a[-({k} % n):] + a[:-({k} % n)] if {k} % n else a"
    prog = ("n = int(input())\n"
            "a = input().split()\n"
            f"b = {expr}\n"
            "print(' '.join(b))")
    st = (f"Read n, then n values on one line. Print them rotated {k} place{'s' if k > 1 else ''} "
          f"to the {'left' if left else 'right'} (cyclically), separated by spaces.")
    return st, prog, _list_input(0, 30, 2, 7)


def t_set_ops(r):
    op, what = r.choice([("&", "in both lists"), ("|", "in at least one list"),
                         ("-", "in the first list but not the second"), ("^", "in exactly one list")])
    prog = ("a = set(map(int, input().split()))\n"
            "b = set(map(int, input().split()))\n"
            f"res = sorted(a {op} b)\n"
            "print(*res if res else ['none'])")
    st = (f"Read two lines of integers. Print, in increasing order and separated by spaces, "
          f"the distinct values that are {what} ('none' if there are none).")
    return st, prog, lambda r: _ints(r, r.randint(2, 6), 0, 9) + "\n" + _ints(r, r.randint(2, 6), 0, 9)


def t_gaps(r):
    f, what = r.choice([("max", "largest"), ("min", "smallest")])
    prog = ("n = int(input())\n"
            "a = sorted(map(int, input().split()))\n"
            f"print({f}(a[i + 1] - a[i] for i in range(n - 1)))")
    st = (f"Read n (at least 2), then n integers. Print the {what} difference between two "
          f"neighbours once the integers are sorted.")
    return st, prog, _list_input(0, 60, 2, 7)


def t_bars(r):
    ch = r.choice("*#=")
    label = r.random() < 0.5
    line = f"str(x) + ' ' + '{ch}' * x" if label else f"'{ch}' * x"
    prog = ("n = int(input())\n"
            "for x in map(int, input().split()):\n"
            f"    print({line})")
    st = (f"Read n, then n non-negative integers. For each value x print a bar of x '{ch}' "
          f"characters{', preceded by x and a space' if label else ''}, one per line.")
    return st, prog, _list_input(1, 8, 2, 5)


def t_alternating(r):
    mode = r.choice(["even_minus_odd", "even", "odd"])
    expr = {"even_minus_odd": "sum(a[0::2]) - sum(a[1::2])", "even": "sum(a[0::2])",
            "odd": "sum(a[1::2])"}[mode]
    what = {"even_minus_odd": "the sum of the values at even positions minus the sum at odd positions",
            "even": "the sum of the values at even positions", "odd": "the sum of the values at odd positions"}[mode]
    prog = ("n = int(input())\n"
            "a = list(map(int, input().split()))\n"
            f"print({expr})")
    st = f"Read n, then n integers (positions counted from 0). Print {what}."
    return st, prog, _list_input(-9, 20, 2, 8)


def t_matrix_sum(r):
    op, what = r.choice([("+", "sum"), ("-", "difference (first minus second)"), ("*", "element-wise product")])
    prog = ("r, c = map(int, input().split())\n"
            "a = [list(map(int, input().split())) for _ in range(r)]\n"
            "b = [list(map(int, input().split())) for _ in range(r)]\n"
            "for i in range(r):\n"
            f"    print(*[a[i][j] {op} b[i][j] for j in range(c)])")
    st = (f"Read r and c, then two r x c integer matrices (r lines each). Print their {what}, "
          f"one row per line.")

    def gen(r):
        rr, cc = r.randint(1, 3), r.randint(1, 3)
        return f"{rr} {cc}\n" + "\n".join(_ints(r, cc, -5, 9) for _ in range(2 * rr))
    return st, prog, gen
