"""Writes `python/aisle/_api.py`, the typed methods of `aisle.Client`, from the server's OpenAPI
document (`crates/server/openapi.json`): one TypedDict per schema and one method per operation,
named by its operationId, with the path parameters as positional arguments, the query parameters
as keyword arguments and the JSON body as `body`.

usage: python python/tools/gen_client.py [--check]
       (--check: exit 1 when the committed file differs from what the document gives;
        tests/test_client.py runs the same comparison)
"""

from __future__ import annotations

import json
import keyword
import os
import sys
import textwrap
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENT = os.path.join(HERE, "..", "..", "crates", "server", "openapi.json")
OUTPUT = os.path.join(HERE, "..", "aisle", "_api.py")

PRIMITIVE = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def py_name(name: str) -> str:
    name = name.replace("-", "_").replace(".", "_")
    return name + "_" if keyword.iskeyword(name) else name


def type_of(schema: Dict[str, Any]) -> str:
    """The Python annotation of a JSON schema (as a string, for `from __future__ import annotations`)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            parts = []
            for s in schema[key]:
                t = type_of(s)
                if t not in parts:
                    parts.append(t)
            return parts[0] if len(parts) == 1 else "Union[" + ", ".join(parts) + "]"
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_of(schema["allOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        parts = [type_of({**schema, "type": k}) for k in kind if k != "null"]
        inner = parts[0] if len(parts) == 1 else "Union[" + ", ".join(parts) + "]"
        return f"Optional[{inner}]" if "null" in kind else inner
    if kind == "array":
        return f"List[{type_of(schema.get('items', {}))}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return f"Dict[str, {type_of(extra)}]"
        return "Dict[str, Any]"
    if "enum" in schema and kind in (None, "string"):
        return "str"
    return PRIMITIVE.get(kind, "Any")


def doc(text: str, indent: str) -> List[str]:
    text = " ".join((text or "").split())
    if not text:
        return []
    lines = textwrap.wrap(text.replace('"""', "'''"), width=100 - len(indent))
    return [f'{indent}"""{lines[0]}'] + [f"{indent}{line}" for line in lines[1:]] + [f'{indent}"""']


def schemas(components: Dict[str, Any]) -> List[str]:
    out = []
    for name, schema in sorted(components.items()):
        props = schema.get("properties")
        if schema.get("type") == "object" and props:
            required = set(schema.get("required", []))
            out.append(f"class {name}(TypedDict, total=False):")
            out += doc(schema.get("description", ""), "    ")
            for prop, s in props.items():
                if not prop.isidentifier() or keyword.iskeyword(prop):
                    continue
                t = type_of(s)
                out.append(f"    {prop}: {'Required[' + t + ']' if prop in required else t}")
            out += ["", ""]
        else:
            out.append(f"{name} = {type_of(schema)}")
            out += ["", ""]
    return out


def operations(paths: Dict[str, Any]) -> List[str]:
    out = []
    for path, item in paths.items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = op.get("parameters", [])
            in_path = [p for p in params if p["in"] == "path"]
            in_query = [p for p in params if p["in"] == "query"]
            body = op.get("requestBody")
            ok = next((r for code, r in sorted(op.get("responses", {}).items()) if code.startswith("2")), {})
            content = ok.get("content", {})
            returns = type_of(content["application/json"]["schema"]) if "application/json" in content else (
                "str" if content else "None")
            args = ["self"] + [f"{py_name(p['name'])}: str" for p in in_path]
            if body:
                schema = body.get("content", {}).get("application/json", {}).get("schema", {})
                args.append(f"body: {type_of(schema)}" if body.get("required") else f"body: Optional[{type_of(schema)}] = None")
            if in_query:
                args.append("*")
                args += [f"{py_name(p['name'])}: Optional[{type_of(p.get('schema', {}))}] = None" for p in in_query]
            name = py_name(op["operationId"])
            out.append(f"    def {name}({', '.join(args)}) -> {returns}:")
            lines = doc(f"{op.get('summary', '')} ({method.upper()} {path})", "        ")
            out += lines
            fmt_path = path
            for p in in_path:
                fmt_path = fmt_path.replace("{" + p["name"] + "}", "{_q(" + py_name(p["name"]) + ")}")
            query = "{" + ", ".join(f'"{p["name"]}": {py_name(p["name"])}' for p in in_query) + "}"
            prefix = "f" if in_path else ""
            call = f'self._call("{method.upper()}", {prefix}"{fmt_path}"'
            if in_query:
                call += f", query={query}"
            if body:
                call += ", body=body"
            out.append(f"        return {call})")
            out.append("")
    return out


def generate() -> str:
    with open(DOCUMENT) as f:
        spec = json.load(f)
    lines = [
        f'"""Typed methods of the aisle server\'s API {spec["info"]["version"]}: generated by',
        "`python/tools/gen_client.py` from `crates/server/openapi.json`. Do not edit; run the generator.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "from __future__ import annotations",
        "",
        "import sys",
        "from typing import Any, Dict, List, Optional, Union",
        "from urllib.parse import quote",
        "",
        "if sys.version_info >= (3, 11):",
        "    from typing import Required, TypedDict",
        "else:  # pragma: no cover",
        "    from typing_extensions import Required, TypedDict",
        "",
        "",
        "def _q(segment: str) -> str:",
        '    return quote(str(segment), safe="")',
        "",
        "",
    ]
    lines += schemas(spec["components"]["schemas"])
    lines += [
        "class Api:",
        '    """One method per operation of the API; `aisle.Client` supplies `_call`."""',
        "",
        "    def _call(self, method: str, path: str, query: Optional[Dict[str, Any]] = None, body: Any = None) -> Any:",
        "        raise NotImplementedError",
        "",
    ]
    lines += operations(spec["paths"])
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = generate()
    if "--check" in sys.argv:
        with open(OUTPUT) as f:
            same = f.read() == text
        if not same:
            print(f"{OUTPUT} is out of date: run python/tools/gen_client.py", file=sys.stderr)
        return 0 if same else 1
    with open(OUTPUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
