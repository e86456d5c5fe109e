#!/usr/bin/env python3
"""Adds up ctest JUnit reports and prints 'total: N passed, N failed, N skipped'; exit 1 on any failure."""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{path}: no test report ({e})")
        failed += 1
        continue
    p = f = s = 0
    for case in root.iter("testcase"):
        status = case.get("status", "")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            f += 1
        elif case.find("skipped") is not None or status in ("notrun", "disabled", "skipped"):
            s += 1
        else:
            p += 1
    print(f"{path}: {p} passed, {f} failed, {s} skipped")
    passed, failed, skipped = passed + p, failed + f, skipped + s
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
