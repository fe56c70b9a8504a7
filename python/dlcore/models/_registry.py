"""Name -> model-builder table behind ``dlcore.models.get_model``."""
_MODELS = {}


def register_model(*names):
    """Decorator: makes a builder available to ``get_model`` under each of ``names``."""

    def wrap(fn):
        for name in names:
            if name in _MODELS:
                raise ValueError(f"register_model: the name {name!r} is already taken by {_MODELS[name].__name__}")
            _MODELS[name] = fn
        return fn

    return wrap


def list_models():
    """The names ``get_model`` accepts, sorted."""
    return sorted(_MODELS)


def get_model(name, **kwargs):
    """Builds the model registered as ``name`` (case-insensitive) with the builder's keyword
    arguments, e.g. ``get_model("resnet18", num_classes=10)``."""
    key = name.lower()
    if key not in _MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[key](**kwargs)
