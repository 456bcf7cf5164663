#!/usr/bin/env python3
"""Per-operation profile from two callgrind runs of the same benchmark: N operations and 0.

  python bench/cgdiff.py BASELINE.callgrind RUN.callgrind --ops N [--top 25]
  python bench/cgdiff.py BASELINE.callgrind RUN.callgrind --ops N --callers __tls_get_addr

Prints, per function, (cost in RUN - cost in BASELINE) / N: the instructions each operation
spends there, exclusive ("self") and inclusive (self plus calls to other functions). Process
start-up and setup cancel out. Works on files written with --dump-instr=no (the default
--dump-line=yes positions are fine too). Standard library only.
"""

import argparse
import collections
import re
import sys

_NAME = re.compile(r"\((\d+)\)(?:\s+(.*))?$")


class Profile:
    def __init__(self, path):
        self.self_cost = collections.Counter()
        self.call_cost = collections.Counter()  # (caller, callee) -> inclusive cost of calls
        self.calls = collections.Counter()
        self.total = 0
        self._parse(path)

    def _parse(self, path):
        tables = {"fn": {}, "ob": {}}
        function = None  # (object, name): one name can live in several objects
        obj = None
        callee = None
        callee_obj = None
        call_count = None

        def name(kind, text):
            match = _NAME.match(text)
            if not match:
                return text
            number, given = match.groups()
            if given is not None:
                tables[kind][number] = given
            return tables[kind].get(number, text)

        with open(path, errors="replace") as handle:
            for line in handle:
                line = line.rstrip("\n")
                if not line:
                    continue
                head = line[0]
                if head.isdigit() or head in "+-*":
                    parts = line.split()
                    cost = int(parts[1]) if len(parts) > 1 else 0
                    if call_count is not None:
                        self.call_cost[(function, callee)] += cost
                        self.calls[(function, callee)] += call_count
                        call_count = None
                    else:
                        self.self_cost[function] += cost
                    continue
                key, _, value = line.partition("=")
                if key == "fn":
                    function = (obj, name("fn", value))
                    callee_obj = None
                elif key == "cfn":
                    callee = (callee_obj or obj, name("fn", value))
                    callee_obj = None
                elif key == "ob":
                    obj = name("ob", value)
                elif key == "cob":
                    callee_obj = name("ob", value)
                elif key == "calls":
                    call_count = int(value.split()[0])
                elif line.startswith("totals:") or line.startswith("summary:"):
                    self.total = int(line.split()[1])

    def inclusive(self):
        result = collections.Counter(self.self_cost)
        for (caller, callee), cost in self.call_cost.items():
            if base_name(caller) != base_name(callee):
                result[caller] += cost
        return result


def base_name(function):
    """(object, name) without callgrind's recursion-level suffix ('2, '3, ...)."""
    obj, name = function if function else (None, "")
    return obj, re.sub(r"'\d+$", "", name or "")


def merge_recursion(counter):
    merged = collections.Counter()
    for function, cost in counter.items():
        merged[base_name(function)] += cost
    return merged


def short(function):
    obj, name = function
    where = ""
    if obj:
        where = " [" + obj.rsplit("/", 1)[-1][:28] + "]"
    return name + where


def per_op_table(baseline_path, run_path, ops, top=25):
    base = Profile(baseline_path)
    run = Profile(run_path)
    exclusive = merge_recursion(run.self_cost)
    exclusive.subtract(merge_recursion(base.self_cost))
    inclusive = merge_recursion(run.inclusive())
    inclusive.subtract(merge_recursion(base.inclusive()))
    calls = collections.Counter()
    for (caller, callee), count in run.calls.items():
        calls[base_name(callee)] += count
    for (caller, callee), count in base.calls.items():
        calls[base_name(callee)] -= count
    lines = [f"total per op: {(run.total - base.total) / ops:,.0f} instructions "
             f"({ops} ops)",
             f"{'self/op':>9} {'incl/op':>9} {'calls/op':>8}  function"]
    ranked = sorted(exclusive.items(), key=lambda item: -item[1])
    for function, cost in ranked[:top]:
        if cost / ops < 0.5:
            break
        lines.append(f"{cost / ops:9.1f} {inclusive[function] / ops:9.1f} "
                     f"{calls[function] / ops:8.2f}  {short(function)}")
    return "\n".join(lines)


def callers_table(baseline_path, run_path, ops, wanted):
    """Who calls the functions whose name contains `wanted`: calls and inclusive cost per op."""
    base = Profile(baseline_path)
    run = Profile(run_path)
    calls = collections.Counter()
    cost = collections.Counter()
    for profile, sign in ((run, 1), (base, -1)):
        for (caller, callee), count in profile.calls.items():
            if wanted in base_name(callee)[1]:
                key = (base_name(caller), base_name(callee))
                calls[key] += sign * count
                cost[key] += sign * profile.call_cost[(caller, callee)]
    lines = [f"{'calls/op':>8} {'incl/op':>9}  caller -> callee"]
    for key, count in sorted(calls.items(), key=lambda item: -item[1]):
        if abs(count) / ops < 0.005:
            continue
        caller, callee = key
        lines.append(f"{count / ops:8.2f} {cost[key] / ops:9.1f}  {short(caller)} -> "
                     f"{callee[1]}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline")
    parser.add_argument("run")
    parser.add_argument("--ops", type=int, required=True,
                        help="operations in RUN beyond BASELINE")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--callers", metavar="NAME",
                        help="instead: the callers of every function whose name contains NAME")
    options = parser.parse_args()
    if options.callers:
        print(callers_table(options.baseline, options.run, options.ops, options.callers))
        return 0
    print(per_op_table(options.baseline, options.run, options.ops, options.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
