"""One ServerGroup behind its own ALB; the network ids come from config (or other resources).

    pulumi config set aws:region eu-west-1
    pulumi config set vpc-id vpc-0123456789abcdef0
    pulumi config set --path 'subnet-ids[0]' subnet-0123456789abcdef0   # and more
    pulumi config set --path 'lb-subnet-ids[0]' subnet-0aaaaaaaaaaaaaaaa   # two AZs
    pulumi config set certificate-arn arn:aws:acm:...
    pulumi up
"""

import pulumi
from immutable_infra.aws import ServerGroup

config = pulumi.Config()
group = ServerGroup("web", {
    "spec": {
        "app": "web", "env": "prod", "ami_id": "ami-0123456789abcdef0", "instance_types": ["m7g.large"],
        "scaling": {"min_size": 2, "max_size": 4, "desired_capacity": 2},
        "load_balancer": {"allowed_cidrs": ["10.0.0.0/8"]},
    },
    # Ids that exist only after deployment are pulumi.Input arguments.
    "vpc_id": config.require("vpc-id"),
    "subnet_ids": config.require_object("subnet-ids"),
    "load_balancer_subnet_ids": config.require_object("lb-subnet-ids"),
    "certificate_arn": config.require("certificate-arn"),
})

pulumi.export("release", group.release)
pulumi.export("endpoint", group.endpoint)
pulumi.export("load_balancer_zone_id", group.load_balancer_zone_id)
pulumi.export("instance_security_group_id", group.instance_security_group_id)
