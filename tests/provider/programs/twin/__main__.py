"""The YAML example (examples/yaml) in Python: the same specs, handed over as config by the test
(tests/engine/test_yaml_example.py), so both programs' previews of one change can be compared."""

import json

import pulumi
import pulumi_kubernetes as k8s
from immutable_infra.kubernetes import ContainerService, ServiceNamespace

config = pulumi.Config()
specs = json.loads(config.require("specs"))
# The components take the secret's value and keep it a Pulumi secret themselves.
secret = pulumi.runtime.get_config("immutable-twin:apiDbPassword") or ""
provider = k8s.Provider("k8s", render_yaml_to_directory=config.require("renderDir"))
opts = pulumi.ResourceOptions(providers=[provider])
apps = ServiceNamespace("apps", {"spec": {"name": specs["namespace"]}}, opts=opts)
api_spec = {**specs["api"], "secrets": [{**s, "value": secret} for s in specs["api"]["secrets"]]}
api = ContainerService("api", {"spec": api_spec}, opts=opts)
web = ContainerService("web", {"spec": specs["web"], "previous": [{**specs["web"], "image": i}
                                                                for i in specs["web_kept_images"]]}, opts=opts)
pulumi.export("apiRelease", api.release)
pulumi.export("webRelease", web.release)
