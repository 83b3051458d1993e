"""Checks that a built wheel (or sdist) is what README.md promises, and says
what failed: .ci/run calls it after the wheel command.

    python3 scripts/check_wheel.py wheelhouse/ember-*.whl
    python3 scripts/check_wheel.py --sdist dist/ember-*.tar.gz

The wheel: at most 100 MB; the module exports only PyInit__C; no RPATH
outside the wheel; no CUDA library among its dependencies (the runtime is
static, the driver is opened at run time); the CUDA code for every
architecture of the release (when cuobjdump is on PATH, it is asked, else
else the fatbin's entry headers are read); the C++ core, its headers and CMake
package; the type stubs; libgomp vendored. The sdist: the sources a build
needs, and no build outputs.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

MAX_WHEEL_MB = 100
# The release's CUDA targets (cuda/CMakeLists.txt): machine code for each,
# and compute_90 PTX that newer GPUs JIT-compile.
CUDA_SASS = {"sm_75", "sm_80", "sm_86", "sm_89", "sm_90a"}
CUDA_PTX = {"sm_90"}  # cuobjdump names compute_90 PTX by its arch, sm_90

WHEEL_MEMBERS = [
    r"ember/__init__\.py", r"ember/py\.typed", r"ember/_C/__init__\.pyi", r"ember/_C\.cpython-.*\.so",
    r"ember/lib/libember_core\.a", r"ember/include/csrc/tensor\.h", r"ember/include/csrc/ops/ops\.h",
    r"ember/share/cmake/ember/emberConfig\.cmake", r"ember/share/cmake/ember/emberConfigVersion\.cmake",
    r"ember/share/cmake/ember/emberTargets\.cmake", r"ember\.libs/libgomp.*\.so.*",
]
SDIST_MEMBERS = [
    "pyproject.toml", "CMakeLists.txt", "README.md", "cmake/cpp_package.cmake", "cmake/emberConfig.cmake.in",
    "csrc/CMakeLists.txt", "csrc/tensor.cpp", "cuda/CMakeLists.txt", "cuda/stub.cpp", "src/CMakeLists.txt",
    "src/exports.map", "python/ember/__init__.py", "python/ember/_C/__init__.pyi",
]


def fail(problems):
    for p in problems:
        print(f"check_wheel: {p}", file=sys.stderr)
    sys.exit(1)


def readelf(args, path):
    return subprocess.run(["readelf", "-W", *args, path], capture_output=True, text=True, check=True).stdout


def check_module(so, problems):
    exported = sorted({line.split()[-1] for line in readelf(["--dyn-syms"], so).splitlines()
                       if re.search(r"\b(GLOBAL|WEAK)\b", line) and " UND " not in line
                       and re.match(r"\s*\d+:", line)})
    if exported != ["PyInit__C"]:
        problems.append(f"the module exports {len(exported)} symbols, not only PyInit__C: {exported[:8]}")
    dynamic = readelf(["-d"], so)
    for path in re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]", dynamic):
        outside = [p for p in path.split(":") if not p.startswith("$ORIGIN")]
        if outside:
            problems.append(f"RPATH points outside the wheel: {outside}")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dynamic)
    cuda_libs = [n for n in needed if n.startswith(("libcuda", "libcudart", "libnccl"))]
    if cuda_libs:
        problems.append(f"the module needs CUDA libraries at load time: {cuda_libs}")
    sections = readelf(["-S"], so)
    if ".nv_fatbin" not in sections:
        problems.append("the module has no CUDA code (.nv_fatbin section): was nvcc found at build time?")
        return
    cuobjdump = shutil.which("cuobjdump") or shutil.which("cuobjdump", path="/usr/local/cuda/bin")
    if cuobjdump is None:  # a toolkit without it (compiler only): read the fatbin's own headers
        check_fatbin_headers(so, sections, problems)
        return
    elf = subprocess.run([cuobjdump, "--list-elf", so], capture_output=True, text=True).stdout
    ptx = subprocess.run([cuobjdump, "--list-ptx", so], capture_output=True, text=True).stdout
    sass = set(re.findall(r"\.(sm_\d+a?)\.cubin", elf))
    ptxs = set(re.findall(r"\.(sm_\d+a?)\.ptx", ptx))
    if sass != CUDA_SASS:
        problems.append(f"machine code for {sorted(sass)}, expected {sorted(CUDA_SASS)}")
    if ptxs != CUDA_PTX:
        problems.append(f"PTX for {sorted(ptxs)}, expected {sorted(CUDA_PTX)}")
    print(f"CUDA machine code: {', '.join(sorted(sass))}; PTX: {', '.join(sorted(ptxs))}")


FATBIN_MAGIC = 0xBA55ED50


def check_fatbin_headers(so, sections, problems):
    """Lists the fatbin's entries from their headers (each: kind 1 = PTX,
    2 = machine code, and the SM number; sm_90a reads as 90): machine code
    for each release architecture and compute_90 PTX must be there."""
    line = next(l for l in sections.splitlines() if ".nv_fatbin" in l)
    fields = line.split("]", 1)[1].split()
    offset, size = int(fields[3], 16), int(fields[4], 16)
    with open(so, "rb") as f:
        f.seek(offset)
        blob = f.read(size)
    kinds, pos = {}, 0
    while pos + 16 <= len(blob):
        magic, _, header_size, fat_size = struct.unpack_from("<IHHQ", blob, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fatbins are 8-byte aligned, padding between them
            continue
        entry, end = pos + header_size, pos + header_size + fat_size
        while entry + 32 <= end:
            kind, _, entry_header, payload, _, _, _, _, arch = struct.unpack_from("<HHIQIIHHI", blob, entry)
            kinds.setdefault({1: "PTX", 2: "SASS"}.get(kind, str(kind)), set()).add(arch)
            entry += entry_header + payload
        pos = end
    want = {"SASS": {75, 80, 86, 89, 90}, "PTX": {90}}
    for kind, archs in want.items():
        if kinds.get(kind, set()) != archs:
            problems.append(f"{kind} for {sorted(kinds.get(kind, set()))}, expected {sorted(archs)}")
    print("CUDA code (from the fatbin headers): "
          + "; ".join(f"{k} {', '.join(f'sm_{a}' for a in sorted(v))}" for k, v in sorted(kinds.items())))


def check_wheel(path):
    problems = []
    size_mb = os.path.getsize(path) / 2**20
    if size_mb > MAX_WHEEL_MB:
        problems.append(f"{size_mb:.0f} MB, more than {MAX_WHEEL_MB} MB")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        for pattern in WHEEL_MEMBERS:
            if not any(re.fullmatch(pattern, n) for n in names):
                problems.append(f"no member matching {pattern}")
        modules = [n for n in names if re.fullmatch(r"ember/_C\.cpython-.*\.so", n)]
        biggest = sorted(zf.infolist(), key=lambda i: -i.file_size)[:4]
        print(f"{os.path.basename(path)}: {size_mb:.1f} MB; largest members (uncompressed): "
              + ", ".join(f"{i.filename} {i.file_size / 2**20:.1f} MB" for i in biggest))
        if modules:
            with tempfile.TemporaryDirectory() as tmp:
                check_module(zf.extract(modules[0], tmp), problems)
    if problems:
        fail(problems)
    print("wheel: ok")


def check_sdist(path):
    with tarfile.open(path) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
    problems = [f"missing {m}" for m in SDIST_MEMBERS if m not in names]
    problems += [f"a build output is inside: {n}" for n in names if n.startswith(("build/", "wheelhouse/", "dist/"))
                 or n.endswith(".so")]
    if problems:
        fail(problems[:20])
    print(f"sdist: ok ({len(names)} files)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--sdist", action="store_true", help="check a source distribution instead of a wheel")
    args = parser.parse_args()
    (check_sdist if args.sdist else check_wheel)(args.path)


if __name__ == "__main__":
    main()
