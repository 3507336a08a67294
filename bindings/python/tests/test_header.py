"""The binding against include/tessera.h: every function declared with its exact C types,
every struct field at its C offset, every enum value and constant, the ABI version check."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
import textwrap
from ctypes import POINTER, c_bool, c_char, c_char_p, c_int32, c_int64, c_size_t, c_uint8
from ctypes import c_uint32, c_uint64, c_void_p
from pathlib import Path

import pytest

import tessera
from tessera import _native
from tessera import store as store_module

from conftest import HEADER


def without_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def norm(t: str) -> str:
    t = re.sub(r"\s+", " ", t.strip())
    return re.sub(r"\s*\*", " *", t).replace("* *", "**").strip()


HANDLES = {
    "tessera_store": _native.StoreP,
    "tessera_options": _native.OptionsP,
    "tessera_request": _native.RequestP,
    "tessera_requirements": _native.RequirementsP,
    "tessera_clock": _native.ClockP,
}
OUTPUTS = {
    "tessera_record": _native.Record,
    "tessera_record_list": _native.RecordList,
    "tessera_stats": _native.Stats,
    "tessera_event_list": _native.EventList,
}
SCALARS = {
    "size_t": c_size_t,
    "int64_t": c_int64,
    "uint64_t": c_uint64,
    "uint32_t": c_uint32,
    "int32_t": c_int32,
    "bool": c_bool,
    "tessera_status": c_int32,
    "tessera_scheme": c_uint32,
    "tessera_kind": c_uint32,
    "tessera_revoke_reason": c_uint32,
    "tessera_replacement": c_uint32,
    "tessera_event_kind": c_uint32,
}


def ctype_of(c: str, *, result: bool = False):  # type: ignore[no-untyped-def]
    """The ctypes type the binding must use for the C type `c`."""
    c = norm(c)
    if c == "void":
        return None
    if c in ("const char *", "char *"):
        # Returned strings are static and NUL-terminated; inputs and buffers are (ptr, len).
        return c_char_p if result else POINTER(c_char)
    if c == "const uint8_t *":
        return POINTER(c_uint8)
    if c == "void *":
        return c_void_p
    m = re.fullmatch(r"(?:const )?struct (tessera_\w+) (\*+)", c)
    if m:
        name, stars = m.group(1), len(m.group(2))
        if name in HANDLES:
            return HANDLES[name] if stars == 1 else POINTER(HANDLES[name])
        if name in OUTPUTS and stars == 2:
            return POINTER(POINTER(OUTPUTS[name]))
        raise AssertionError(f"no mapping for {c}")
    m = re.fullmatch(r"(\w+)( \*)?", c)
    if m and m.group(1) in SCALARS:
        base = SCALARS[m.group(1)]
        return POINTER(base) if m.group(2) else base
    raise AssertionError(f"no mapping for C type {c!r}")


def header_functions(src: str) -> dict:
    """name -> (return type, [parameter types]) of every tessera_ function in the header."""
    out = {}
    for m in re.finditer(
        r"^([A-Za-z_][\w \*]*?)\b(tessera_\w+)\(([^)]*)\);", without_comments(src), flags=re.M
    ):
        ret, name, params = m.groups()
        args = []
        if params.strip() not in ("", "void"):
            for p in params.split(","):
                p = norm(p)
                pm = re.fullmatch(r"(.*?)\s*\b(\w+)", p)
                assert pm, p
                args.append(pm.group(1))
        out[name] = (ret, args)
    return out


def header_structs(src: str) -> dict:
    """name -> [(field type, field name, array length or None)] of every struct."""
    out = {}
    for m in re.finditer(
        r"typedef struct (tessera_\w+) \{(.*?)\} \1;", without_comments(src), flags=re.S
    ):
        fields = []
        for decl in m.group(2).split(";"):
            decl = norm(decl)
            if not decl:
                continue
            fm = re.fullmatch(r"(.*?)\s*\b(\w+)(?:\[(\w+)\])?", decl)
            assert fm, decl
            fields.append((fm.group(1), fm.group(2), fm.group(3)))
        out[m.group(1)] = fields
    return out


def test_every_function_of_the_header_is_declared_with_its_exact_types(header: str) -> None:
    functions = header_functions(header)
    assert len(functions) >= 70, "the header parser found too few functions"
    for name, (ret, args) in functions.items():
        assert name in _native.FUNCTIONS, f"{name} is in tessera.h but not in _native.FUNCTIONS"
        restype, argtypes = _native.FUNCTIONS[name]
        assert restype is ctype_of(ret, result=True), f"{name}: return type {ret}"
        assert len(argtypes) == len(args), f"{name}: {len(args)} parameters in the header"
        for i, (c, py) in enumerate(zip(args, argtypes)):
            assert py is ctype_of(c), f"{name}: parameter {i} is {c}, declared {py}"
        fn = getattr(_native.lib, name)
        assert fn.argtypes == argtypes and fn.restype is restype, f"{name} not applied"


def test_the_binding_declares_nothing_the_header_lacks(header: str) -> None:
    assert set(_native.FUNCTIONS) - set(header_functions(header)) == set()


def test_every_function_of_the_header_is_used_by_the_python_api() -> None:
    """None is declared and forgotten: each is called (or passed on) by some module."""
    modules = (tessera, store_module, tessera.records, tessera.clock, tessera.credentials,
               tessera.errors, _native)
    sources = "".join(Path(m.__file__).read_text() for m in modules)  # type: ignore[arg-type]
    unused = [n for n in _native.FUNCTIONS if not re.search(rf"\.{n}\b[(,\n]", sources)]
    assert unused == []


def test_every_struct_matches_the_header_field_by_field(header: str) -> None:
    structs = header_structs(header)
    assert set(structs) == set(_native.STRUCTS)
    for cname, fields in structs.items():
        py = _native.STRUCTS[cname]
        assert [f[1] for f in fields] == [f[0] for f in py._fields_], cname
        for (ctype, fname, length), (_, pytype) in zip(fields, py._fields_):
            if length is not None:
                assert ctype == "char" and pytype._type_ is c_char, (cname, fname)
                assert pytype._length_ == getattr(_native, length.replace("TESSERA_", "")), fname
            elif ctype == "struct tessera_str":
                assert pytype is _native.Str
            elif ctype == "struct tessera_counts":
                assert pytype is _native.Counts
            elif ctype == "const char *":
                assert pytype is POINTER(c_char)
            elif ctype == "const uint8_t *":
                assert pytype is POINTER(c_uint8)
            elif ctype.startswith("const struct "):
                target = ctype[len("const struct "):-2]
                assert pytype is POINTER(_native.STRUCTS[target]), (cname, fname)
            else:
                assert pytype is SCALARS[ctype], (cname, fname, ctype)


def test_struct_sizes_and_offsets_are_those_of_the_c_compiler(tmp_path: Path, header: str) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (bindings/python/run-tests installs gcc)")
    lines = []
    for cname, py in _native.STRUCTS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
        for fname, _ in py._fields_:
            lines.append(f'printf("{cname}.{fname} %zu\\n", offsetof({cname}, {fname}));')
    prog = tmp_path / "layout.c"
    prog.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"tessera.h\"\nint main(void) {\n"
        + textwrap.indent("\n".join(lines), "    ")
        + "\n    return 0;\n}\n"
    )
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c99", "-I", str(HEADER.parent), str(prog), "-o", str(exe)],
                   check=True)
    seen = dict(line.rsplit(" ", 1) for line in subprocess.check_output([str(exe)], text=True).splitlines())
    for cname, py in _native.STRUCTS.items():
        assert int(seen[cname]) == ctypes.sizeof(py), f"sizeof({cname})"
        for fname, _ in py._fields_:
            assert int(seen[f"{cname}.{fname}"]) == getattr(py, fname).offset, f"{cname}.{fname}"


ENUMS = {
    "tessera_status": (tessera.Status, "TESSERA_"),
    "tessera_kind": (tessera.Kind, "TESSERA_KIND_"),
    "tessera_revoke_reason": (tessera.RevokeReason, "TESSERA_REVOKE_"),
    "tessera_scheme": (tessera.Scheme, "TESSERA_SCHEME_"),
    "tessera_durability": (tessera.Durability, "TESSERA_DURABILITY_"),
    "tessera_concurrency": (tessera.Concurrency, "TESSERA_CONCURRENCY_"),
    "tessera_replacement": (tessera.Replacement, "TESSERA_REPLACEMENT_"),
    "tessera_event_kind": (tessera.EventKind, "TESSERA_EVENT_"),
    "tessera_cap_policy": (tessera.CapPolicy, "TESSERA_CAP_"),
}


def test_every_enum_of_the_header_has_the_same_values_in_python(header: str) -> None:
    src = without_comments(header)
    found = set()
    for m in re.finditer(r"enum (tessera_\w+)\s*(?:#if.*?#endif[^\n]*)?\s*\{(.*?)\};", src, re.S):
        name, body = m.groups()
        found.add(name)
        values = dict(re.findall(r"(TESSERA_\w+) = (-?\d+)", body))
        if name == "tessera_revoke_scope":
            assert {k: int(v) for k, v in values.items()} == {
                "TESSERA_SCOPE_STORE": store_module._SCOPE_STORE,
                "TESSERA_SCOPE_TENANT": store_module._SCOPE_TENANT,
                "TESSERA_SCOPE_SUBJECT": store_module._SCOPE_SUBJECT,
            }
            continue
        assert name in ENUMS, f"enum {name} has no Python counterpart"
        py, prefix = ENUMS[name]
        assert {k[len(prefix):]: int(v) for k, v in values.items()} == {
            e.name: int(e.value) for e in py
        }, name
    assert found >= set(ENUMS)


def test_every_constant_of_the_header_is_the_bindings(header: str) -> None:
    defines = dict(re.findall(r"#define TESSERA_(\w+) (-?\d+)", header))
    assert defines["ABI_VERSION"] == str(_native.ABI_VERSION)
    for name, value in defines.items():
        if name.startswith("VERSION_"):
            continue
        assert getattr(_native, name) == int(value), name
    assert tessera.version() == "{MAJOR}.{MINOR}.{PATCH}".format(
        **{k[len("VERSION_"):]: v for k, v in defines.items() if k.startswith("VERSION_")}
    )


def test_every_status_has_one_exception_class_named_as_the_library_names_it() -> None:
    classes = tessera.errors.BY_STATUS
    for status in tessera.Status:
        if status == tessera.Status.OK:
            continue
        cls = classes[status]
        assert issubclass(cls, tessera.TesseraError)
        assert getattr(tessera, cls.__name__) is cls
        assert tessera.status_name(status) == status.name_text == cls("x").name
    assert len(set(classes.values())) == len(tessera.Status) - 1
    assert tessera.status_name(12345) == "unrecognized_status"


def test_the_library_loaded_is_the_one_inside_the_package_with_the_abi_it_expects() -> None:
    assert tessera.abi_version() == tessera.ABI_VERSION == 1
    package = Path(tessera.__file__).resolve().parent
    if "TESSERA_LIB" not in __import__("os").environ:
        assert _native.LIBRARY_PATH == package / _native._library_file_name()
    assert (package / "py.typed").is_file()


def test_a_library_with_another_abi_version_is_refused(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (bindings/python/run-tests installs gcc)")
    src = tmp_path / "fake.c"
    src.write_text("#include <stdint.h>\nuint32_t tessera_abi_version(void) { return 99; }\n")
    lib = tmp_path / "libfake.so"
    subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    run = subprocess.run(
        [sys.executable, "-c", "import tessera"],
        env={"TESSERA_LIB": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "ABI version 99" in run.stderr, run.stderr


def test_a_missing_library_is_a_clear_import_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import tessera"],
        env={"TESSERA_LIB": str(tmp_path / "nowhere.so"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode != 0 and "cannot load libtessera" in run.stderr, run.stderr
