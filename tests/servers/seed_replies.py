"""Scripted replies to the seed suite's prompts: one correct script, one wrong, one gibberish.

Each entry: ``match`` (case-insensitive substring of the last user message) and either
``reply`` (text) or ``tool_calls`` ([{name, arguments}]); optional ``delay_s`` (before the first
token) and ``chunk_delay_s``. The correct replies imitate Phi-4-mini's step-by-step style, with
intermediate numbers, so they exercise final-answer extraction rather than bypass it. The wrong
ones are the mistakes a small model really makes (simple instead of compound interest, 40 %
instead of 44 %, naive recursion, radius vs diameter).
"""

from __future__ import annotations

from typing import Any, Dict, List

FENCE = "```"

FIB_DP = FENCE + """python
def fibonacci(n):
    \"\"\"Return the n-th Fibonacci number using bottom-up dynamic programming.\"\"\"
    if n < 2:
        return n
    # dp[i] holds F(i); we only ever need the last two values
    prev, curr = 0, 1
    for _ in range(2, n + 1):
        prev, curr = curr, prev + curr
    return curr

print(fibonacci(10))  # 55
""" + FENCE

FIB_NAIVE = FENCE + """python
def fibonacci(n):
    # recursive definition
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
""" + FENCE

GCD_OK = FENCE + """python
def gcd(a, b):
    \"\"\"Greatest common divisor by the Euclidean algorithm.\"\"\"
    while b:
        a, b = b, a % b  # replace (a, b) by (b, a mod b) until b is 0
    return abs(a)
""" + FENCE

GCD_BAD = FENCE + """python
def gcd(a, b):
    while b:
        a, b = b, a % b
    return b
""" + FENCE

BS_OK = FENCE + """python
def binary_search(arr, target):
    \"\"\"Return the index of target in the sorted list arr, or -1.\"\"\"
    low, high = 0, len(arr) - 1
    while low <= high:
        mid = (low + high) // 2  # middle of the current window
        if arr[mid] == target:
            return mid
        if arr[mid] < target:
            low = mid + 1  # target is in the right half
        else:
            high = mid - 1  # target is in the left half
    return -1
""" + FENCE

BS_BAD = FENCE + """python
def binary_search(arr, target):
    low, high = 0, len(arr) - 1
    while low <= high:
        mid = (low + high) // 2
        if arr[mid] == target:
            return True
        if arr[mid] < target:
            low = mid + 1
        else:
            high = mid - 1
    return False
""" + FENCE

CORRECT: List[Dict[str, Any]] = [
    {"match": "train travels 240 km", "reply": (
        "Let's solve this step by step.\n\n"
        "1. Original speed = 240 km / 3 hours = 80 km/h.\n"
        "2. New speed = 80 km/h + 20 km/h = 100 km/h.\n"
        "3. New time = 240 km / 100 km/h = 2.4 hours.\n\n"
        "Final answer: 2.4 hours (2 hours and 24 minutes).")},
    {"match": "compound interest on $5000", "reply": (
        "Use A = P(1 + r)^n with P = $5,000, r = 6% = 0.06 and n = 3.\n\n"
        "Year 1: $5,000 × 1.06 = $5,300.00\nYear 2: $5,300.00 × 1.06 = $5,618.00\n"
        "Year 3: $5,618.00 × 1.06 = $5,955.08\n\n"
        "The final amount is **$5,955.08**.")},
    {"match": "rectangle has length 15cm", "reply": (
        "Original area = 15 cm × 8 cm = 120 cm².\nNew length = 15 × 1.2 = 18 cm; new width = 8 × 1.2 = 9.6 cm.\n"
        "New area = 18 × 9.6 = 172.8 cm².\n"
        "Increase = (172.8 − 120) / 120 × 100 = 44%.\n\n"
        "Final answer: the area increases by 44%.")},
    {"match": "car travels at 60 mph", "reply": (
        "First part: 60 mph × 2.5 hours = 150 miles.\nSecond part: 80 mph × 1.5 hours = 120 miles.\n"
        "Total distance = 150 + 120 = 270 miles.\n\nFinal answer: 270 miles.")},
    {"match": "all cats are mammals", "reply": (
        "No, we cannot conclude that some cats are carnivores. The premises say that all cats are "
        "mammals and that some mammals are carnivores, but the carnivorous mammals need not include "
        "any cats. The conclusion does not follow logically (undistributed middle).")},
    {"match": "fibonacci", "reply": "Here is a dynamic-programming solution:\n\n" + FIB_DP +
        "\n\nIt runs in O(n) time and O(1) space."},
    {"match": "greatest common divisor", "reply": "Using the Euclidean algorithm:\n\n" + GCD_OK},
    {"match": "binary search", "reply": "Binary search halves the search window each step:\n\n" + BS_OK},
    {"match": "area of a circle", "tool_calls": [{"name": "calculate_circle_area", "arguments": {"radius": 5}}]},
]

WRONG: List[Dict[str, Any]] = [
    {"match": "train travels 240 km", "reply": (
        "The speed goes from 80 km/h to 100 km/h. Some would say the time becomes 2.4 hours, but that is "
        "not right: it is not 2.4 hours, the answer is 3 hours.")},
    {"match": "compound interest on $5000", "reply": (
        "Interest per year = $5,000 × 6% = $300. Over 3 years: $900.\n\nThe final amount is $5,900.00.")},
    {"match": "rectangle has length 15cm", "reply": (
        "Each dimension grows by 20%, so the area grows by 20% + 20% = 40%.\n\nFinal answer: 40%.")},
    {"match": "car travels at 60 mph", "reply": (
        "60 × 2.5 = 150 miles and 80 × 1.5 = 130 miles, so the total distance is 280 miles.")},
    {"match": "all cats are mammals", "reply": (
        "Yes, we can conclude that some cats are carnivores, because cats are mammals and some mammals "
        "are carnivores.")},
    {"match": "fibonacci", "reply": "A simple recursive version:\n\n" + FIB_NAIVE},
    {"match": "greatest common divisor", "reply": GCD_BAD},
    {"match": "binary search", "reply": BS_BAD},
    {"match": "area of a circle", "tool_calls": [{"name": "calculate_circle_area", "arguments": {"radius": 10}}]},
]

# What the lab's random-weight tiny model produces: fluent-looking nonsense, no tool calls.
GIBBERISH: List[Dict[str, Any]] = [
    {"match": "", "reply": "the of quantum banana seventeen ly ly ly reactor the of of Mondays sincerely"},
]

SCRIPTS = {"correct": CORRECT, "wrong": WRONG, "gibberish": GIBBERISH}
