"""The built-in corpus's program templates: 75 functions ``t_<name>(r)`` that draw, from the
``random.Random`` ``r``, a statement, a 3-12 line stdin/stdout program with random
parameters, and a generator of its inputs (``gen(r) -> str``), written for this project.
:data:`TEMPLATES` fixes their order, which the corpus of a seed depends on
(:func:`tunepipe.tasks.code.corpus.builtin_rows`); a row's ``template`` is the function's
name without ``t_``. By theme: :mod:`.arith` (numbers), :mod:`.text` (strings and words),
:mod:`.lists` (lists, tables, grids); :mod:`.inputs` has their shared input pieces."""
from __future__ import annotations

from .arith import (t_arith_series, t_geometric, t_fizzbuzz, t_digits, t_digital_root,
                    t_gcd_lcm, t_count_primes, t_is_prime, t_factorial_mod, t_fibonacci,
                    t_binary, t_collatz, t_leap_years, t_triangle, t_times_table,
                    t_test_cases, t_power_sum, t_staircase, t_base_convert, t_multiples_below,
                    t_coins, t_intervals, t_clock, t_temperature, t_divisors, t_figurate,
                    t_checkerboard, t_digit_words, t_bitwise, t_seconds)
from .lists import (t_sum_divisible, t_range_stat, t_grid_total, t_grid_rows, t_grid_cols,
                    t_prefix_sums, t_pair_sums, t_second_largest, t_col_sums, t_row_sums,
                    t_even_odd, t_kadane, t_distinct, t_records, t_average, t_count_above,
                    t_diagonal, t_transpose, t_balance, t_stack, t_inversions, t_window,
                    t_scale, t_rotate_list, t_set_ops, t_gaps, t_bars, t_alternating,
                    t_matrix_sum)
from .text import (t_sort_words, t_count_char, t_reverse, t_palindrome, t_vowels, t_caesar,
                   t_rle, t_most_common, t_brackets, t_anagram, t_case, t_word_lengths,
                   t_letter_counts, t_filter_chars, t_substring_count, t_initial_count)

TEMPLATES = [t_sum_divisible, t_range_stat, t_sort_words, t_count_char, t_reverse,
             t_arith_series, t_geometric, t_fizzbuzz, t_grid_total, t_grid_rows, t_grid_cols,
             t_digits, t_digital_root, t_gcd_lcm, t_count_primes, t_is_prime, t_factorial_mod,
             t_fibonacci, t_palindrome, t_vowels, t_caesar, t_prefix_sums, t_pair_sums,
             t_second_largest, t_col_sums, t_row_sums, t_binary, t_rle, t_even_odd,
             t_collatz, t_leap_years, t_kadane, t_distinct, t_most_common, t_triangle,
             t_times_table, t_brackets, t_test_cases, t_anagram, t_records, t_power_sum,
             t_staircase, t_average, t_case, t_count_above, t_diagonal, t_transpose,
             t_word_lengths, t_letter_counts, t_base_convert, t_multiples_below, t_coins,
             t_intervals, t_clock, t_temperature, t_balance, t_stack, t_inversions, t_window,
             t_scale, t_filter_chars, t_substring_count, t_divisors, t_figurate, t_rotate_list,
             t_set_ops, t_checkerboard, t_digit_words, t_bitwise, t_gaps, t_initial_count,
             t_bars, t_alternating, t_seconds, t_matrix_sum]
