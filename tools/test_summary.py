#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from the test programs' Catch2 XML reports.

Counts test cases. A program that meson reports as failed without a complete XML report (it
crashed or timed out) counts as one failed case; `--extra-failures N` adds failed checks run
outside Catch2 (e.g. a stale single header). Exit status 1 on any failure.
"""
import argparse
import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results_dir", type=pathlib.Path)
    ap.add_argument("testlog", type=pathlib.Path)
    ap.add_argument("--extra-failures", type=int, default=0)
    args = ap.parse_args()

    passed = failed = skipped = 0
    reported = set()
    for xml_path in sorted(args.results_dir.glob("*.xml")):
        try:
            cases = ET.parse(xml_path).getroot().find("OverallResultsCases")
        except ET.ParseError:
            cases = None
        if cases is None:
            continue
        reported.add(xml_path.stem)
        skips = int(cases.get("skips", 0))
        passed += int(cases.get("successes", 0))
        failed += int(cases.get("failures", 0))
        skipped += skips
    if args.testlog.is_file():
        for line in args.testlog.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and entry["name"] not in reported:
                print(f"test program '{entry['name']}' ended {entry.get('result')} without a report", file=sys.stderr)
                failed += 1
    failed += args.extra_failures
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
