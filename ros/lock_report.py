"""Prints the pins of a `pip install --report` file, one `name==version` a line."""
import json
import sys

report = json.load(open(sys.argv[1]))
for pin in sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report["install"]):
    print(pin)
