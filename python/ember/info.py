"""``python -m ember.info``: what to paste into a bug report. The version,
how this ember was built (CUDA or not, its architectures, the CPU kernel set
chosen at run time, threads), the devices found, and which optional parts
are available. ``--json`` prints the same as one JSON object."""
import ctypes.util
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys

import ember
from ember import _C


def _package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _nccl_library():
    """The NCCL shared library the dynamic loader would find, or None (found
    by name only: loading it is not needed to tell)."""
    found = ctypes.util.find_library("nccl")
    if found:
        return found
    for name in ("libnccl.so.2", "libnccl.so"):
        try:
            ctypes.CDLL(name)
            return name
        except OSError:
            continue
    return None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect():
    """Everything ``python -m ember.info`` reports, as a dict."""
    from ember import compat

    build = dict(_C._build_info())
    devices = [{"device": "cpu", "name": f"{_cpu_name()} ({os.cpu_count()} logical cores)"}]
    cuda_count = ember.cuda.device_count() if build["cuda_built"] else 0
    for i in range(cuda_count):
        devices.append({"device": f"cuda:{i}", "name": ember.cuda.get_device_name(i)})
    return {
        "ember": ember.__version__,
        "location": os.path.dirname(ember.__file__),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": _package_version("numpy"),
        "build": {
            "cuda": build["cuda_built"],
            "cuda_setting": _C._cuda_setting,
            "cuda_architectures": build["cuda_architectures"] or None,
            "cpu_kernels": build["cpu_kernels"],
            "compiler": build.get("compiler"),
            "openmp": build.get("openmp"),
        },
        "threads": ember.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "devices": devices,
        "cuda_available": ember.cuda.is_available(),
        "optional": {
            "mpi4py": _package_version("mpi4py") if importlib.util.find_spec("mpi4py") else None,
            "nccl": _nccl_library(),
            "distributed": importlib.util.find_spec("ember.distributed") is not None,
            "torchvision_stand_in": compat.vision_available(),
            "torch_installed": _package_version("torch"),
        },
    }


def _text(info):
    build, optional = info["build"], info["optional"]
    cuda = "yes" if build["cuda"] else f"no (EMBER_CUDA={build['cuda_setting']})"
    lines = [
        f"ember {info['ember']} ({info['location']})",
        f"python {info['python']}, numpy {info['numpy']}, {info['platform']}",
        "build:",
        f"  CUDA backend: {cuda}",
        f"  CUDA architectures: {build['cuda_architectures'] or '-'}",
        f"  CPU kernels: {build['cpu_kernels']} (chosen at run time)",
        f"  compiler: {build['compiler'] or '?'}, OpenMP {build['openmp'] or 'off'}",
        f"  threads: {info['threads']} (OMP_NUM_THREADS={info['omp_num_threads'] or 'unset'})",
        "devices:",
    ]
    lines += [f"  {d['device']}: {d['name']}" for d in info["devices"]]
    if build["cuda"] and not info["cuda_available"]:
        lines.append("  (CUDA built, but no device or driver is visible)")
    lines += [
        "optional parts:",
        f"  MPI (mpi4py): {optional['mpi4py'] or 'not installed'}",
        f"  NCCL library: {optional['nccl'] or 'not found'}",
        f"  ember.distributed: {'yes' if optional['distributed'] else 'no'}",
        f"  torchvision stand-in (ember.vision): {'yes' if optional['torchvision_stand_in'] else 'no'}",
        f"  PyTorch installed: {optional['torch_installed'] or 'no'}",
    ]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    info = collect()
    print(json.dumps(info, indent=2) if "--json" in argv else _text(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
