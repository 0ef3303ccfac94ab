"""Program templates on numbers: arithmetic, digits, primes, series, bases, dates and
times (one template = one function ``t_<name>(r) -> (statement, program, input generator)``,
see :mod:`tunepipe.tasks.code.templates`)."""
from .inputs import _ints


def t_arith_series(r):
    if r.random() < 0.5:
        prog = ("a, d, n = map(int, input().split())\n"
                "term = a + (n - 1) * d\n"
                "print(term)")
        st = ("Read three integers a, d and n. Print the n-th term of the arithmetic series "
              "that starts at a with difference d.")
    else:
        prog = ("a, d, n = map(int, input().split())\n"
                "total = 0\n"
                "for i in range(n):\n"
                "    total += a + i * d\n"
                "print(total)")
        st = ("Read three integers a, d and n. Print the sum of the first n terms of the "
              "arithmetic series that starts at a with difference d.")
    return st, prog, lambda r: f"{r.randint(-10, 20)} {r.randint(-5, 9)} {r.randint(1, 12)}"


def t_geometric(r):
    m = r.choice([7, 10, 11, 13, 100, 1000])
    prog = ("a, q, n = map(int, input().split())\n"
            "terms = []\n"
            "for i in range(n):\n"
            f"    terms.append(a * q ** i % {m})\n"
            "print(*terms)")
    st = (f"Read integers a, q and n. Print the first n terms a, a*q, a*q^2, ... of the "
          f"geometric series, each taken modulo {m}, separated by spaces.")
    return st, prog, lambda r: f"{r.randint(1, 9)} {r.randint(2, 6)} {r.randint(2, 8)}"


def t_fizzbuzz(r):
    p, q = r.sample([2, 3, 4, 5, 7], 2)
    w1, w2 = r.sample(["Fizz", "Buzz", "Ping", "Pong", "Zap", "Bop"], 2)
    prog = ("n = int(input())\n"
            "for i in range(1, n + 1):\n"
            f"    if i % {p} == 0 and i % {q} == 0:\n"
            f"        print('{w1}{w2}')\n"
            f"    elif i % {p} == 0:\n"
            f"        print('{w1}')\n"
            f"    elif i % {q} == 0:\n"
            f"        print('{w2}')\n"
            "    else:\n"
            "        print(i)")
    st = (f"Read n and print the numbers 1 to n, one per line, but print '{w1}' instead of "
          f"multiples of {p}, '{w2}' instead of multiples of {q}, and '{w1}{w2}' instead of "
          f"multiples of both.")
    return st, prog, lambda r: str(r.randint(3, 16))


def t_digits(r):
    op, what = r.choice([("sum(int(d) for d in n)", "the sum of its digits"),
                         ("max(n)", "its largest digit"),
                         ("len(set(n))", "how many different digits it has"),
                         ("n.count('7')", "how many of its digits are 7"),
                         ("int(n[::-1])", "the number its digits form when reversed (without leading zeros)"),
                         ("sum(1 for d in n if int(d) % 2 == 0)", "how many of its digits are even"),
                         ("min(n)", "its smallest digit")])
    prog = ("n = input().strip()\n"
            f"result = {op}\n"
            "print(result)")
    st = f"Read a positive integer and print {what}."
    return st, prog, lambda r: str(r.randint(1, 10 ** r.randint(2, 9)))


def t_digital_root(r):
    mode = r.choice(["root", "steps"])
    prog = ("n = int(input())\n"
            "steps = 0\n"
            "while n >= 10:\n"
            "    n = sum(int(d) for d in str(n))\n"
            "    steps += 1\n"
            f"print({'n' if mode == 'root' else 'steps'})")
    what = "that digit" if mode == "root" else "how many replacements it takes"
    st = ("Read a positive integer and repeatedly replace it by the sum of its digits until a "
          f"single digit remains; print {what}.")
    return st, prog, lambda r: str(r.randint(1, 10 ** r.randint(2, 12)))


def t_gcd_lcm(r):
    if r.random() < 0.5:
        prog = ("import math\n"
                "a, b = map(int, input().split())\n"
                "print(math.gcd(a, b))")
        st = "Read two positive integers and print their greatest common divisor."
    else:
        prog = ("import math\n"
                "a, b = map(int, input().split())\n"
                "print(a * b // math.gcd(a, b))")
        st = "Read two positive integers and print their least common multiple."
    return st, prog, lambda r: f"{r.randint(1, 60) * r.choice([1, 2, 3, 6])} {r.randint(1, 60)}"


def t_count_primes(r):
    upd, init, what = r.choice([("count += 1", "count = 0", "how many prime numbers are at most n"),
                                ("count += x", "count = 0", "the sum of the primes at most n"),
                                ("count = x", "count = -1", "the largest prime at most n (-1 if none)")])
    prog = ("n = int(input())\n"
            f"{init}\n"
            "for x in range(2, n + 1):\n"
            "    if all(x % d for d in range(2, int(x ** 0.5) + 1)):\n"
            f"        {upd}\n"
            "print(count)")
    st = f"Read an integer n and print {what}."
    return st, prog, lambda r: str(r.randint(1, 200))


def t_is_prime(r):
    yes, no = r.choice([("YES", "NO"), ("prime", "composite"), ("True", "False")])
    prog = ("n = int(input())\n"
            "ok = n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n"
            f"print('{yes}' if ok else '{no}')")
    st = f"Read an integer n and print '{yes}' if it is prime, otherwise '{no}'."
    return st, prog, lambda r: str(r.randint(1, 400))


def t_factorial_mod(r):
    m = r.choice([7, 11, 13, 97, 1000, 10007])
    prog = ("n = int(input())\n"
            "f = 1\n"
            "for i in range(2, n + 1):\n"
            f"    f = f * i % {m}\n"
            "print(f)")
    st = f"Read n and print n! (n factorial) modulo {m}."
    return st, prog, lambda r: str(r.randint(0, 30))


def t_fibonacci(r):
    f0, f1 = r.choice([(0, 1), (1, 1), (2, 1), (1, 3)])
    m = r.choice([10, 100, 1000, 1000000007])
    prog = ("n = int(input())\n"
            f"a, b = {f0}, {f1}\n"
            "for _ in range(n):\n"
            f"    a, b = b, (a + b) % {m}\n"
            "print(a)")
    st = (f"A sequence starts with F(0) = {f0} and F(1) = {f1}, and F(i) = F(i-1) + F(i-2) "
          f"modulo {m}. Read n and print F(n).")
    return st, prog, lambda r: str(r.randint(0, 40))


def t_binary(r):
    op, what = r.choice([("bin(n).count('1')", "the number of 1 bits in its binary form"),
                         ("bin(n)[2:]", "its binary representation (no prefix)"),
                         ("len(bin(n)) - 2", "the number of digits of its binary form"),
                         ("oct(n)[2:]", "its octal representation (no prefix)")])
    prog = ("n = int(input())\n"
            f"answer = {op}\n"
            "print(answer)")
    st = f"Read a non-negative integer and print {what}."
    return st, prog, lambda r: str(r.randint(0, 5000))


def t_collatz(r):
    mode = r.choice(["steps", "peak"])
    track = "    steps += 1\n" if mode == "steps" else "    peak = max(peak, n)\n"
    prog = ("n = int(input())\n"
            + ("steps = 0\n" if mode == "steps" else "peak = n\n")
            + "while n != 1:\n"
            "    n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
            + track
            + f"print({mode})")
    what = ("how many steps it takes to reach 1" if mode == "steps"
            else "the largest value reached (including n)")
    st = (f"Start from a positive integer n and repeatedly halve it when even or replace it by "
          f"3n + 1 when odd, until it is 1. Read n and print {what}.")
    return st, prog, lambda r: str(r.randint(1, 60))


def t_leap_years(r):
    julian = r.random() < 0.3
    cond = "y % 4 == 0" if julian else "y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)"
    prog = ("a, b = map(int, input().split())\n"
            "cnt = 0\n"
            "for y in range(a, b + 1):\n"
            f"    if {cond}:\n"
            "        cnt += 1\n"
            "print(cnt)")
    rule = "every year divisible by 4 is a leap year" if julian else "Gregorian leap years"
    st = f"Read two years a <= b and print how many leap years ({rule}) lie between them, inclusive."

    def gen(r):
        a = r.randint(1890, 2030)
        return f"{a} {a + r.randint(0, 60)}"
    return st, prog, gen


def t_triangle(r):
    names = r.choice([("none", "equilateral", "isosceles", "scalene"),
                      ("NO", "EQ", "ISO", "SC")])
    prog = ("a, b, c = sorted(map(int, input().split()))\n"
            "if a + b <= c:\n"
            f"    print('{names[0]}')\n"
            "elif a == c:\n"
            f"    print('{names[1]}')\n"
            "elif a == b or b == c:\n"
            f"    print('{names[2]}')\n"
            "else:\n"
            f"    print('{names[3]}')")
    st = (f"Read three side lengths. Print '{names[0]}' if they cannot form a triangle, "
          f"otherwise '{names[1]}', '{names[2]}' or '{names[3]}' (all equal, exactly two "
          f"equal, all different).")
    return st, prog, lambda r: _ints(r, 3, 1, 8)


def t_times_table(r):
    k = r.randint(3, 7)
    sep = r.choice([" x ", "*", " times "])
    prog = ("n = int(input())\n"
            f"for i in range(1, {k + 1}):\n"
            f"    print(str(n) + '{sep}' + str(i) + ' = ' + str(n * i))")
    st = (f"Read n and print its multiplication table from 1 to {k}, one line each, in the "
          f"form 'n{sep}i = product'.")
    return st, prog, lambda r: str(r.randint(1, 15))


def t_test_cases(r):
    op, what = r.choice([("a * b", "their product"), ("a + b", "their sum"),
                         ("max(a, b)", "the larger one"), ("abs(a - b)", "their distance")])
    prog = ("for _ in range(int(input())):\n"
            "    a, b = map(int, input().split())\n"
            f"    print({op})")
    st = (f"The first line holds the number of test cases t. Each of the next t lines holds "
          f"two integers a and b; for each, print {what} on its own line.")

    def gen(r):
        t = r.randint(1, 4)
        return f"{t}\n" + "\n".join(_ints(r, 2, -9, 20) for _ in range(t))
    return st, prog, gen


def t_power_sum(r):
    p = r.randint(1, 3)
    prog = ("n = int(input())\n"
            f"total = sum(i ** {p} for i in range(1, n + 1))\n"
            "print(total)")
    st = f"Read n and print 1^{p} + 2^{p} + ... + n^{p}."
    return st, prog, lambda r: str(r.randint(1, 30))


def t_staircase(r):
    ch = r.choice("*#+")
    right = r.random() < 0.4
    line = f"' ' * (n - i) + '{ch}' * i" if right else f"'{ch}' * i"
    prog = ("n = int(input())\n"
            "for i in range(1, n + 1):\n"
            f"    print({line})")
    st = (f"Read n and print a staircase of n lines: line i holds i '{ch}' characters"
          f"{', right-aligned to width n' if right else ''}.")
    return st, prog, lambda r: str(r.randint(1, 7))


def t_base_convert(r):
    b = r.randint(2, 9)
    prog = ("n = int(input())\n"
            "digits = ''\n"
            "while n > 0:\n"
            f"    digits = str(n % {b}) + digits\n"
            f"    n //= {b}\n"
            "print(digits or '0')")
    st = f"Read a non-negative integer n and print it written in base {b}."
    return st, prog, lambda r: str(r.randint(0, 3000))


def t_multiples_below(r):
    a, b = sorted(r.sample([2, 3, 4, 5, 6, 7, 9, 11], 2))
    agg, what = r.choice([("sum(", "the sum of"), ("len(", "how many")])
    prog = ("n = int(input())\n"
            f"xs = [x for x in range(1, n) if x % {a} == 0 or x % {b} == 0]\n"
            f"print({agg}xs))")
    st = f"Read n and print {what} the positive integers below n that are multiples of {a} or {b}."
    return st, prog, lambda r: str(r.randint(1, 120))


def t_coins(r):
    coins = r.choice([(25, 10, 5, 1), (50, 20, 10, 5, 2, 1), (10, 5, 1), (100, 25, 10, 1), (7, 3, 1)])
    prog = ("n = int(input())\n"
            "count = 0\n"
            f"for c in {list(coins)}:\n"
            "    count += n // c\n"
            "    n %= c\n"
            "print(count)")
    st = (f"Coins have values {', '.join(map(str, coins))}. Read an amount n and print how many "
          f"coins a greedy cashier uses (always the largest coin that fits).")
    return st, prog, lambda r: str(r.randint(0, 300))


def t_intervals(r):
    mode = r.choice(["length", "yesno", "union"])
    expr = {"length": "max(0, min(b, d) - max(a, c))",
            "yesno": "'YES' if max(a, c) <= min(b, d) else 'NO'",
            "union": "(b - a) + (d - c) - max(0, min(b, d) - max(a, c))"}[mode]
    what = {"length": "the length of their overlap (0 if none)",
            "yesno": "'YES' if they share at least one point, otherwise 'NO'",
            "union": "the total length they cover together"}[mode]
    prog = ("a, b = map(int, input().split())\n"
            "c, d = map(int, input().split())\n"
            f"print({expr})")
    st = f"Read two intervals [a, b] and [c, d] (a <= b, c <= d), one per line. Print {what}."

    def gen(r):
        a, c = r.randint(0, 20), r.randint(0, 20)
        return f"{a} {a + r.randint(0, 10)}\n{c} {c + r.randint(0, 10)}"
    return st, prog, gen


def t_clock(r):
    k = r.choice([0, 15, 45, 90, 125, 600])
    prog = ("h, m = map(int, input().split(':'))\n"
            f"t = (h * 60 + m + {k}) % (24 * 60)\n"
            "print(f'{t // 60:02d}:{t % 60:02d}')")
    st = (f"Read a time of day as HH:MM and print, in the same format, the time {k} minutes "
          f"later (24-hour clock)." if k else
          "Read a time of day as H:M (hours and minutes, maybe without leading zeros) and print "
          "it as HH:MM.")
    return st, prog, lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}"


def t_temperature(r):
    mode = r.choice(["c2f", "f2c"])
    expr = "c * 9 // 5 + 32" if mode == "c2f" else "(c - 32) * 5 // 9"
    a, b = ("Celsius", "Fahrenheit") if mode == "c2f" else ("Fahrenheit", "Celsius")
    prog = ("c = int(input())\n"
            f"result = {expr}\n"
            "print(result)")
    st = f"Read an integer temperature in degrees {a} and print it in degrees {b}, rounded down."
    return st, prog, lambda r: str(r.randint(-40, 110))


def t_divisors(r):
    expr, what = r.choice([("len(ds)", "how many divisors it has"), ("sum(ds)", "the sum of its divisors"),
                           ("' '.join(map(str, ds))", "all its divisors in increasing order, separated by spaces"),
                           ("sum(ds) - n", "the sum of its proper divisors (all divisors but n)")])
    prog = ("n = int(input())\n"
            "ds = [d for d in range(1, n + 1) if n % d == 0]\n"
            f"print({expr})")
    st = f"Read a positive integer n and print {what}."
    return st, prog, lambda r: str(r.randint(1, 150))


def t_figurate(r):
    expr, what = r.choice([("n * (n + 1) // 2", "the n-th triangular number 1 + 2 + ... + n"),
                           ("n * n", "the n-th square number"),
                           ("n * (3 * n - 1) // 2", "the n-th pentagonal number n(3n - 1)/2"),
                           ("n * (n + 1) * (2 * n + 1) // 6", "the sum of the first n squares")])
    prog = ("n = int(input())\n"
            f"value = {expr}\n"
            "print(value)")
    st = f"Read n and print {what}."
    return st, prog, lambda r: str(r.randint(0, 60))


def t_checkerboard(r):
    a, b = r.choice([("#", "."), ("X", "O"), ("*", " "), ("1", "0")])
    prog = ("r, c = map(int, input().split())\n"
            "for i in range(r):\n"
            f"    print(''.join('{a}' if (i + j) % 2 == 0 else '{b}' for j in range(c)))")
    st = (f"Read r and c and print an r x c checkerboard: the cell in row i, column j (from 0) "
          f"is '{a}' when i + j is even, otherwise '{b}'.")
    return st, prog, lambda r: f"{r.randint(1, 5)} {r.randint(1, 6)}"


def t_digit_words(r):
    sep = r.choice([" ", "-", ","])
    prog = ("names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']\n"
            "s = input().strip()\n"
            f"print('{sep}'.join(names[int(d)] for d in s))")
    st = f"Read a non-negative integer and print its digits as English words, separated by '{sep}'."
    return st, prog, lambda r: str(r.randint(0, 10 ** r.randint(1, 5)))


def t_bitwise(r):
    op, what = r.choice([("&", "bitwise AND"), ("|", "bitwise OR"), ("^", "bitwise XOR")])
    prog = ("a, b = map(int, input().split())\n"
            f"result = a {op} b\n"
            "print(result)")
    st = f"Read two non-negative integers a and b and print their {what}."
    return st, prog, lambda r: f"{r.randint(0, 255)} {r.randint(0, 255)}"


def t_seconds(r):
    mode = r.choice(["hms", "ms", "total"])
    if mode == "total":
        prog = ("h, m, s = map(int, input().split())\n"
                "total = h * 3600 + m * 60 + s\n"
                "print(total)")
        st = "Read hours, minutes and seconds and print the total number of seconds."
        return st, prog, lambda r: f"{r.randint(0, 30)} {r.randint(0, 59)} {r.randint(0, 59)}"
    prog = ("t = int(input())\n"
            + ("print(t // 3600, t % 3600 // 60, t % 60)" if mode == "hms" else "print(t // 60, t % 60)"))
    prog = "# convert a number of seconds\n" + prog
    what = "hours, minutes and seconds" if mode == "hms" else "minutes and seconds"
    st = f"Read a number of seconds and print it as {what}, separated by spaces."
    return st, prog, lambda r: str(r.randint(0, 100000))
