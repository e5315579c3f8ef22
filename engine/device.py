"""Device and dtype policy: ``"auto"`` means CUDA when available, else the CPU."""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ResourceError, brief
from .fmt import format_bytes

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DTYPES",
    "available_cores",
    "available_memory",
    "check_memory",
    "device_info",
    "resolve_device",
    "resolve_dtype",
]

#: dtype names accepted in configs.
DTYPES = ("float64", "float32", "complex128", "complex64")

#: Fraction of free memory a computation may plan to use; the rest is headroom for
#: the allocator, Python and the app.
MEMORY_FRACTION = 0.8


def resolve_device(device: Any = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a torch.device into a device.

    Raises
    ------
    ConfigError
        If the device is unknown or not available on this machine.
    """
    import torch

    if isinstance(device, torch.device):
        dev = device
    else:
        if not isinstance(device, str):
            raise ConfigError(
                f"device must be a string such as 'auto', 'cpu' or 'cuda', got {brief(device)}"
            )
        if device == "auto":
            return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ConfigError(
                f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
            ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {str(dev)!r} was asked for but this torch has no CUDA device "
                "(torch.cuda.is_available() is False); use 'auto' or 'cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {str(dev)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type != "cpu":
        raise ConfigError(f"device type {dev.type!r} is not supported; use 'auto', 'cpu' or 'cuda'")
    return dev


def resolve_dtype(dtype: Any) -> torch.dtype:
    """Turn a dtype name from :data:`DTYPES` into a torch dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def device_info(device: Any = "auto") -> dict[str, Any]:
    """Describe the device and software a result was computed with."""
    import torch

    dev = resolve_device(device)
    info: dict[str, Any] = {
        "device": str(dev),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
    }
    if dev.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = _cpu_name()
        info["cpu_count"] = os.cpu_count()
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def available_memory(device: Any = "cpu") -> int:
    """Bytes that can be allocated now on ``device`` (free GPU memory, or MemAvailable)."""
    import torch

    dev = resolve_device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with quimb
        return 2**63 - 1


def check_memory(nbytes: int, device: Any, what: str, hint: str) -> None:
    """Refuse (before allocating) a plan that needs more than the device can give.

    Parameters
    ----------
    nbytes : int
        Estimated bytes the plan will hold at its peak.
    what : str
        What would be allocated, for the message.
    hint : str
        How to make the plan smaller, for the message.
    """
    free = available_memory(device)
    if nbytes > MEMORY_FRACTION * free:
        raise ResourceError(
            f"{what} needs about {format_bytes(nbytes)} but {resolve_device(device)} has "
            f"{format_bytes(free)} available; {hint}"
        )
