"""StreamingBackend for every Pulumi language: a component provider that serves it.

`PulumiPlugin.yaml` makes this repository a Pulumi plugin; `pulumi package add` starts it,
reads the schema and generates an SDK in the caller's language. The plugin entry point is
the project's `__main__.py`, which hands over to `serve()` when started as a plugin.
"""

from .host import StreamingBackendProvider, launched_as_plugin, serve

__all__ = ["StreamingBackendProvider", "launched_as_plugin", "serve"]
