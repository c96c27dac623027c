"""Entry point of the component provider plugin (run by the Python language host's RunPlugin).

The schema is inferred from facades generated from the pydantic specs (see
immutable_infra.provider); this is ``component_provider_host`` with our provider class.
"""

import sys

from immutable_infra.provider import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
