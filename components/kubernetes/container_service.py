"""``ContainerService`` on Kubernetes: pods replaced, never patched.

Each release (content hash of what runs) owns its immutable ConfigMap and Secret, and
with ``blue-green`` its own Deployment named ``<service>-<release>``. Because every
release-owned resource carries the release id in its *Pulumi name*, a new release is a
set of new resources created beside the old ones and the old ones are deleted at the end
of the update (or kept): the whole release is swapped as one unit without relying on
``replace_on_changes`` cascading through a component (pulumi/pulumi#17838).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypedDict, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from .. import PACKAGE
from ..container_spec import ContainerServiceSpec, NamespaceName
from ..errors import Problem, SpecError
from ..fields import Flag
from ..input_errors import raises_input_errors
from ..inputs import OutputAllowed, args_model, is_output, secret_output
from ..outputs import ContainerReleaseOutputs
from ..release_inputs import container_service_inputs
from . import manifests as m
from .analysis_resource import ReleaseAnalysis

TYPE_TOKEN = f"{PACKAGE}:kubernetes:ContainerService"

SpecInput = ContainerServiceSpec | Mapping[str, Any]
T = TypeVar("T")


class _ContainerServiceArgsRequired(TypedDict):
    """The required part of ``ContainerServiceArgs``: a base class, so that
    ``__required_keys__`` is right under postponed annotations."""

    spec: SpecInput
    """The active release's spec: a ``ContainerServiceSpec`` or a mapping of its fields. Required."""


class ContainerServiceArgs(_ContainerServiceArgsRequired, total=False):
    """Arguments of ``ContainerService`` (Kubernetes)."""

    previous: Sequence[SpecInput]
    """Specs of previous releases to keep for instant rollback, newest first (normally
    ``spec.with_image(artifact)`` for the ledger's previous artifacts); only the first
    ``spec.keep_previous`` are kept. Default: none."""
    namespace: pulumi.Input[str]
    """The Kubernetes namespace, for example ``ServiceNamespace(...).name`` (an Output: the
    children then wait for the namespace). Default: ``spec.namespace``. Not part of the release."""
    exec_break_glass: bool
    """Environment-wide opt-out of the exec lock (never in prod). Default ``False``."""
    prometheus_url: str
    """The Prometheus the cutover analysis (``spec.analysis``) asks. Default:
    ``$IMMUTABLE_PROMETHEUS_URL``, else the local cluster's (cluster/local.py prometheus); with
    none the analysis fails closed. Not part of the release."""
    kubeconfig: str
    """The kubeconfig the analysis's synthetic requests use (the API server's service proxy).
    Default: ``$KUBECONFIG``, else ``~/.kube/config``. Not part of the release."""


_ARGS = args_model("ContainerService", {
    # The namespace may be an Output (ServiceNamespace(...).name): its value is then checked by that component.
    "namespace": Annotated[NamespaceName, OutputAllowed],
    "exec_break_glass": Flag,
})


def _namespace(subject: str, spec: ContainerServiceSpec, given: pulumi.Input[str] | None) -> pulumi.Input[str]:
    """``args['namespace']`` or ``spec.namespace``: one place, not two."""
    if given is None:
        return spec.namespace
    if "namespace" in spec.model_fields_set and (is_output(given) or given != spec.namespace):
        raise SpecError(subject, [Problem("namespace", repr(spec.namespace), "given twice: in the spec and as "
                                          "args['namespace']", "keep one of the two")])
    return given


class _ContainerServiceOutputs(ContainerReleaseOutputs):
    """The outputs of ``ContainerService`` (declared apart from it: see ``immutable_infra.outputs``)."""

    endpoint: pulumi.Output[str | None]
    """In-cluster URL of the Service's first port (``None`` without a Service); from the Service."""
    opt_outs: pulumi.Output[list[str]]
    """Names of the secure defaults opted out of, sorted."""
    service_name: pulumi.Output[str | None]
    """Name of the Service (``None`` without one); from the Service."""
    namespace: pulumi.Output[str]
    """The namespace the objects are in; from the ServiceAccount."""
    selector_labels: pulumi.Output[dict[str, str]]
    """Labels selecting the pods that get the traffic (for other NetworkPolicies); from the
    active Deployment's selector."""
    ports: pulumi.Output[dict[str, int]]
    """Port name -> port peers connect to (the Service port; empty without a Service)."""


class ContainerService(pulumi.ComponentResource, _ContainerServiceOutputs):
    """A service deployed as immutable releases on Kubernetes.

    ``ContainerService(name, args: ContainerServiceArgs, *, opts=None)``; children are
    ``<name>-<role>``.
    """

    TYPE_TOKEN = TYPE_TOKEN

    @raises_input_errors
    def __init__(
        self,
        name: str,
        args: ContainerServiceArgs,
        *,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        subject = f"ContainerService {name!r}"
        # Validate everything before registering anything (nothing is half-deployed), and report
        # every problem at once: the args' own values, the spec, the kept releases.
        given, active, previous = container_service_inputs(
            subject, args, lambda: list(ContainerServiceArgs.__annotations__), _ARGS)
        namespace = _namespace(subject, active, given.get("namespace"))
        exec_break_glass = given.get("exec_break_glass") is True
        super().__init__(TYPE_TOKEN, name, None, opts)

        self._name = name
        self._spec = active
        self._namespace = namespace
        self._exec_break_glass = exec_break_glass
        releases = [active, *previous]
        ids = [r.release for r in releases]
        child = pulumi.ResourceOptions(parent=self)

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=self._meta(active.name),
            automount_service_account_token=False,
            opts=child,
        )
        config_objects = self._config_objects(releases, child)
        active_deployment = self._deployment(active, is_active=True, config_objects=config_objects)
        # The Service (and so the traffic) moves only once the active release is ready:
        # the provider's await logic holds the Deployment's create/update until it is.
        after_active = pulumi.ResourceOptions(parent=self, depends_on=[active_deployment])
        # ... and, with spec.analysis, once it has passed its analysis.
        gate = self._analysis(active, previous, active_deployment, given)
        self.service: k8s.core.v1.Service | None = None
        if active.expose.service and active.ports:
            service_type, exposure_labels, exposure_reason = m.service_type_and_metadata(active)
            self.service = k8s.core.v1.Service(
                f"{name}-svc",
                metadata=self._meta(active.name, extra_labels=exposure_labels,
                                    annotations={**m.SERVICE_AWAIT_ANNOTATIONS, **exposure_reason}),
                spec={"type": service_type, "selector": m.service_selector(active, ids[0]),
                      "ports": m.service_ports(active)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[active_deployment, *gate]),
            )
        if active.strategy == "blue-green":
            # Kept releases scale down (or stay warm) only after the Service has moved to the
            # new release: the old pods keep serving until then, so no moment without endpoints.
            moved: list[pulumi.Resource] = [self.service] if self.service is not None else [active_deployment]
            for spec in previous:
                self._deployment(spec, is_active=False, config_objects=config_objects, after=moved)
        if active.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=self._meta(active.name),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": m.service_selector(active, ids[0])}},
                opts=after_active,
            )
        if active.security.opt_outs.network_policy is None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-netpol",
                metadata=self._meta(active.name),
                spec=m.network_policy_spec(active),
                opts=child,
            )
        if active.expose.ingress is not None and self.service is not None:
            self._ingress(active)
        # The exec lock is the namespace's (ServiceNamespace): one policy for all its services.

        opt_outs = active.security.opt_outs.names()
        if exec_break_glass and "exec_lock" not in opt_outs:
            opt_outs = sorted([*opt_outs, "exec_lock"])
        self.release = pulumi.Output.from_input(ids[0])
        self.active_release = self.release
        self.kept_releases = _known(ids[1:])
        self.images = _known({r.release: r.image for r in releases})
        self.opt_outs = _known(opt_outs)
        # Composition outputs come from the children, so whatever uses them waits for them.
        self.namespace = self.service_account.metadata.apply(lambda meta: str(field(meta, "namespace")))
        self.selector_labels = active_deployment.spec.apply(
            lambda spec: {str(k): str(v) for k, v in (field(field(spec, "selector"), "match_labels") or {}).items()})
        if self.service is not None:
            service = self.service
            self.service_name = service.metadata.apply(lambda meta: str(field(meta, "name")))
            self.ports = service.spec.apply(service_ports)
            # Nested applies, not Output.all(metadata, spec): that lifts every value of both (the whole
            # Service) into an Output of its own first, some 20 Outputs and tasks per service.
            ports = self.ports
            self.endpoint = service.metadata.apply(lambda meta: ports.apply(
                lambda by_name: service_url(field(meta, "name"), field(meta, "namespace"), by_name)))
        else:
            self.service_name = pulumi.Output.from_input(None)
            self.ports = pulumi.Output.from_input({})
            self.endpoint = pulumi.Output.from_input(None)
        self.register_outputs({
            "release": self.release,
            "active_release": self.active_release,
            "kept_releases": self.kept_releases,
            "images": self.images,
            "endpoint": self.endpoint,
            "opt_outs": self.opt_outs,
            "service_name": self.service_name,
            "namespace": self.namespace,
            "selector_labels": self.selector_labels,
            "ports": self.ports,
        })

    # --- children ------------------------------------------------------------------

    def _meta(self, name: str, *, release: str | None = None, role: str | None = None,
              extra_labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        labels = {**m.selector_labels(self._spec), m.LABEL_MANAGED_BY: m.MANAGED_BY, **(extra_labels or {})}
        if release:
            labels[m.LABEL_RELEASE] = release
        if role:
            labels[m.LABEL_ROLE] = role
        return {"name": name, "namespace": self._namespace, "labels": labels,
                "annotations": {**m.PATCH_FORCE, **(annotations or {})}}

    def _child_name(self, spec: ContainerServiceSpec, object_name: str) -> str:
        """Pulumi name of a release object: the component's name, not the service's, leads, so two
        components for same-named services (in different namespaces) never share a URN."""
        return self._name + object_name.removeprefix(spec.name)

    def _config_objects(self, releases: Sequence[ContainerServiceSpec],
                        child: pulumi.ResourceOptions) -> dict[str, pulumi.Resource]:
        """Immutable ConfigMaps/Secrets named by content hash, shared by releases with the
        same content and deleted only when no kept release uses them any more."""
        objects: dict[str, pulumi.Resource] = {}
        for spec in releases:
            cm_name = m.config_map_name(spec)
            if cm_name and cm_name not in objects:
                objects[cm_name] = k8s.core.v1.ConfigMap(
                    self._child_name(spec, cm_name),
                    metadata=self._meta(cm_name, release=spec.release),
                    data={f.name: f.content for f in spec.config_files},
                    immutable=True,
                    opts=self._renamed(child, cm_name, self._child_name(spec, cm_name)),
                )
            secret = m.secret_name(spec)
            if secret and secret not in objects:
                objects[secret] = k8s.core.v1.Secret(
                    self._child_name(spec, secret),
                    metadata=self._meta(secret, release=spec.release),
                    type="Opaque",
                    # Kept a Pulumi secret: encrypted in state, masked in previews and logs.
                    string_data={s.name: secret_output(s.value) for s in spec.secrets},
                    immutable=True,
                    opts=self._renamed(child, secret, self._child_name(spec, secret)),
                )
        return objects

    @staticmethod
    def _renamed(child: pulumi.ResourceOptions, old: str, new: str) -> pulumi.ResourceOptions:
        """Before ade8425 the release objects' Pulumi names were their Kubernetes names (the
        service's name led, not the component's): the alias moves such an object to its new
        name instead of deleting and recreating it (they differ only when the component and
        the service are named differently)."""
        if old == new:
            return child
        return pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old)]))

    def _deployment(self, spec: ContainerServiceSpec, *, is_active: bool,
                    config_objects: Mapping[str, pulumi.Resource],
                    after: Sequence[pulumi.Resource] = ()) -> k8s.apps.v1.Deployment:
        """One release's Deployment (rolling: the one Deployment that follows the active release)."""
        active = self._spec
        opt_labels, opt_annotations = m.opt_out_metadata(active)
        if self._exec_break_glass and active.security.opt_outs.exec_lock is None:
            # Environment-wide break glass: visible on the workloads like a spec opt-out (not in
            # the pod template, so it rolls no pods).
            opt_labels[f"{m.LABEL_OPT_OUT_PREFIX}exec-lock"] = "true"
            opt_annotations[f"{m.ANNOTATION_OPT_OUT_REASON_PREFIX}exec_lock"] = "exec_break_glass set in the environment config"
        rid = spec.release
        replicas = active.replicas if is_active or active.keep_mode == "warm" else 0
        opt_annotations.update(m.await_annotations(is_active=is_active, replicas=replicas))
        uses = [config_objects[n] for n in (m.config_map_name(spec), m.secret_name(spec)) if n]
        timeout = f"{active.rollout_timeout_seconds}s"
        return k8s.apps.v1.Deployment(
            f"{self._name}-{rid}" if active.strategy == "blue-green" else f"{self._name}-deploy",
            metadata=self._meta(m.deployment_name(spec, rid), release=rid, role="active" if is_active else "kept",
                                extra_labels=opt_labels, annotations=opt_annotations),
            spec=m.deployment_spec(spec, rid, replicas, progress_deadline_seconds=active.rollout_timeout_seconds),
            # Config objects exist before the pods that mount them; a release that does not become
            # ready within the rollout timeout fails the update (the old release keeps the traffic).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*uses, *after],
                                        custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout)),
        )

    def _analysis(self, active: ContainerServiceSpec, previous: Sequence[ContainerServiceSpec],
                  active_deployment: pulumi.Resource, given: Mapping[str, Any]) -> list[pulumi.Resource]:
        """With ``spec.analysis``: the new release's own Service and its analysis (what the
        Service waits for); each kept release's analysis record, so a rollback to it is never
        analysed again (see analysis_resource)."""
        analysis = active.analysis
        if analysis is None or active.strategy != "blue-green" or not (active.expose.service and active.ports):
            return []
        rid = active.release
        # The release-scoped Service: what the synthetic requests (or a user's own) reach.
        release_service = k8s.core.v1.Service(
            f"{self._name}-svc-{rid}",
            metadata=self._meta(m.deployment_name(active, rid), release=rid, role="analysis",
                                annotations=m.SERVICE_AWAIT_ANNOTATIONS),
            spec={"type": "ClusterIP", "selector": m.service_selector(active, rid),
                  "ports": m.service_ports(active, node_port=False)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[active_deployment]),
        )
        where = {"prometheus_url": given.get("prometheus_url") or "", "kubeconfig": given.get("kubeconfig") or ""}

        def props(spec: ContainerServiceSpec, gate: bool, service_name: pulumi.Input[str]) -> dict[str, Any]:
            return {**analysis.model_dump(), **where, "gate": gate, "namespace": self._namespace,
                    "service": spec.name, "release": spec.release, "release_service": service_name,
                    "port": spec.ports[0].name}

        gate = ReleaseAnalysis(f"{self._name}-analysis-{rid}",
                               props(active, True, release_service.metadata.apply(lambda meta: str(field(meta, "name")))),
                               # The analysis needs the release ready and its Service in place.
                               opts=pulumi.ResourceOptions(parent=self, depends_on=[release_service]))
        for spec in previous:
            ReleaseAnalysis(f"{self._name}-analysis-{spec.release}",
                            props(spec, False, m.deployment_name(spec, spec.release)),
                            opts=pulumi.ResourceOptions(parent=self))
        return [gate]

    def _ingress(self, spec: ContainerServiceSpec) -> None:
        ingress = spec.expose.ingress
        assert ingress is not None and self.service is not None
        port = spec.ports[0]
        rule = {"host": ingress.hostname, "http": {"paths": [{
            "path": ingress.path, "pathType": "Prefix",
            "backend": {"service": {"name": spec.name,
                                    "port": {"number": port.service_port or port.container_port}}},
        }]}}
        body: dict[str, Any] = {"rules": [rule]}
        if ingress.tls_secret:
            body["tls"] = [{"hosts": [ingress.hostname], "secretName": ingress.tls_secret}]
        if ingress.class_name:
            body["ingressClassName"] = ingress.class_name
        # A plain-HTTP ingress carries its opt-out itself, so the policy pack (k8s-ingress-tls) sees
        # the reason on the object it judges and lists it, instead of refusing it.
        plain = spec.security.opt_outs.plain_http_ingress if not ingress.tls_secret else None
        labels = {f"{m.LABEL_OPT_OUT_PREFIX}plain-http-ingress": "true"} if plain else None
        reasons = {f"{m.ANNOTATION_OPT_OUT_REASON_PREFIX}plain_http_ingress": plain.reason} if plain else None
        k8s.networking.v1.Ingress(
            f"{self._name}-ingress",
            metadata=self._meta(spec.name, extra_labels=labels, annotations=reasons),
            spec=body,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
        )
def _known(value: T) -> pulumi.Output[T]:
    """``Output.from_input`` of a known value, without lifting each item of a non-empty list or dict
    into an Output of its own and gathering them back (several Outputs and tasks per item)."""
    if not value:
        return pulumi.Output.from_input(value)
    return pulumi.Output.from_input(None).apply(lambda _: value)


def field(obj: Any, name: str) -> Any:
    """An output property by its Python name: typed output objects from the engine, plain
    mappings (camelCase keys) where the SDK does not translate them (mocks)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
        head, *rest = name.split("_")
        return obj.get(head + "".join(part.title() for part in rest))
    return getattr(obj, name, None)


def service_ports(spec: Any) -> dict[str, int]:
    """Port name -> Service port, from the Service's ``spec`` output."""
    return {str(field(p, "name")): int(field(p, "port")) for p in field(spec, "ports") or []}


def service_url(name: str | None, namespace: str | None, ports: Mapping[str, int]) -> str | None:
    """``http://<service>.<namespace>.svc.cluster.local:<first port>`` from the Service's outputs."""
    if not name or not namespace or not ports:
        return None
    return f"http://{name}.{namespace}.svc.cluster.local:{next(iter(ports.values()))}"
