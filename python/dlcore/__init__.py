"""dlcore: tensors, autograd and neural-network building blocks on a C++ core."""
import os as _os

if _os.environ.get("DLCORE_EXT_DIR"):
    # A development build outside the package (tools/devbuild.sh).
    import importlib.machinery as _mach
    import importlib.util as _util
    import glob as _glob
    import sys as _sys

    _path = _glob.glob(_os.path.join(_os.environ["DLCORE_EXT_DIR"], "_C*.so"))[0]
    _spec = _util.spec_from_file_location("dlcore._C", _path)
    _C = _util.module_from_spec(_spec)
    _sys.modules["dlcore._C"] = _C
    _spec.loader.exec_module(_C)
else:
    from . import _C
