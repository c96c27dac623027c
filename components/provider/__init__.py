"""The components as a Pulumi component provider, for YAML, TypeScript, Go or .NET programs.

The plugin directory ``provider/`` of this repository (``PulumiPlugin.yaml``, runtime
python) runs :func:`serve`; a YAML program lists it under ``packages:`` and uses
``immutable:index:ContainerService`` and friends. See docs/other-languages.md.
"""

from .host import VERSION, ImmutableComponentProvider, schema, serve

__all__ = ["VERSION", "ImmutableComponentProvider", "schema", "serve"]
