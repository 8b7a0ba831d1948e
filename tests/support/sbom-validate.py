"""Validates an SBOM envc wrote with the reference libraries of each format.

Usage: sbom-validate.py cyclonedx|spdx FILE
Prints `valid` and exits 0, or prints what is wrong and exits 1. Exits 3 when the validator
library is not installed (the caller skips, or fails under CI).
"""
import sys

kind, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
if kind == "cyclonedx":
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    except ImportError as e:
        print(f"cyclonedx-python-lib is not installed: {e}")
        sys.exit(3)
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    if error is not None:
        print(error)
        sys.exit(1)
else:
    try:
        from spdx_tools.spdx.parser.parse_anything import parse_file
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    except ImportError as e:
        print(f"spdx-tools is not installed: {e}")
        sys.exit(3)
    messages = validate_full_spdx_document(parse_file(path))
    if messages:
        print("\n".join(m.validation_message for m in messages))
        sys.exit(1)
print("valid")
