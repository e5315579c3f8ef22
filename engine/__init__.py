"""tensorbench.engine: the computation side of tensorbench.

Computation only -- torch, quimb, cotengra/opt_einsum, numpy/scipy. It never imports
Panel, Bokeh or HoloViews, so scripts and the CLI use it without the app. Heavy libraries
(torch, quimb, cotengra) are imported inside the functions that need them.

The public API: :class:`Network` and :class:`Tensor` (the model), the templates,
:class:`Config` / :func:`load_config`, :func:`run` returning a :class:`Result`, and the
exports: :func:`export_as` (every target in :data:`EXPORT_TARGETS`), :func:`export_script`
and :func:`export_code` (numpy, torch, quimb or cotengra programs).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tensorbench")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

from .codegen import CODE_TARGETS, export_code, target_warnings
from .config import Config, load_config
from .contract import contract
from .cost import NetworkStats, PathCost, find_path, network_stats, path_cost
from .errors import ConfigError, NetworkError, ResourceError, TensorbenchError
from .export import EXPORT_TARGETS, export_as, export_script
from .network import Network, Tensor
from .run import Result, get_task, register_task, run, task_names
from .templates import TEMPLATES, from_rank_matrix, get_template, to_rank_matrix
from .templates import build as build_template

__all__ = [
    "CODE_TARGETS",
    "EXPORT_TARGETS",
    "TEMPLATES",
    "Config",
    "ConfigError",
    "Network",
    "NetworkError",
    "NetworkStats",
    "PathCost",
    "ResourceError",
    "Result",
    "Tensor",
    "TensorbenchError",
    "__version__",
    "build_template",
    "contract",
    "export_as",
    "export_code",
    "export_script",
    "find_path",
    "from_rank_matrix",
    "get_task",
    "get_template",
    "load_config",
    "network_stats",
    "path_cost",
    "register_task",
    "run",
    "target_warnings",
    "task_names",
    "to_rank_matrix",
]
