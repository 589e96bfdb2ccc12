"""The Helm chart charts/ironlb with a real helm (built from helm.sh/helm/v4
by build.sh tools) against a real kube-apiserver: it lints; deploy/ironlb.yaml
is exactly what the chart renders with its defaults (scripts/render-deploy);
its objects, with values that reach every branch of the templates, pass a
server-side dry run; install, upgrade (a changed value reaches the objects)
and uninstall work; and the ServiceMonitor of MetalLB's guide
(examples/bgp-ha/monitoring.yaml) selects a metrics Service for each
component, with the port it names pointing at the Pods' metrics port.

No kubelet runs here: the Deployment and DaemonSet are accepted objects and
no Pod starts, so nothing waits for Pods."""
import json
import os
import pathlib
import subprocess

import pytest
import yaml

import controlplane as cpmod

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ironlb"
GUIDE_MONITORING = ROOT / "examples" / "bgp-ha" / "monitoring.yaml"
NS = "metallb-system"

# Values that take every optional branch of the templates.
ALL_VALUES = {
    "loadBalancerClass": "example.com/ironlb",
    "prometheus": {
        "scrapeAnnotations": False,
        "serviceMonitor": {"enabled": True, "interval": "30s",
                           "controller": {"additionalLabels": {"release": "prom"}}},
        "podMonitor": {"enabled": True, "interval": "15s"},
        "prometheusRule": {"enabled": True,
                           "addressPoolExhausted": {"excludePools": "lab-.*"},
                           "extraAlerts": [{"alert": "Extra", "expr": "vector(1)"}]},
    },
    "controller": {
        "logLevel": "debug",
        "kubeApi": {"qps": 50, "burst": 100},
        "image": {"repository": "registry.example/ironlb", "tag": "1.2.3",
                  "pullPolicy": "Always"},
        "resources": {"limits": {"memory": "64Mi"}},
        "nodeSelector": {"role": "lb"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"a": "b"},
    },
    "speaker": {
        "logLevel": "warn",
        "kubeApi": {"qps": 0},
        "tolerateMaster": False,
        "memberlist": {"mlBindPort": 7950, "mlSecretKeyPath": "/etc/ml_secret_key"},
        "image": {"repository": "registry.example/ironlb", "tag": "1.2.3"},
        "tolerations": [{"key": "edge", "operator": "Exists"}],
        "priorityClassName": "system-node-critical",
    },
}


@pytest.fixture(scope="module")
def helm(k8s_tools, plane, tmp_path_factory):
    """Run helm against this module's plane: (returncode, stdout, stderr)."""
    home = tmp_path_factory.mktemp("helm")
    env = dict(os.environ, HELM_CACHE_HOME=str(home / "cache"),
               HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"),
               KUBECONFIG=str(plane.kubeconfig))

    def run(*args, input=None, check=True):
        p = subprocess.run([k8s_tools.helm, *args], input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}{p.stderr}")
        return p
    return run


def values_file(tmp_path, values) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def docs(text) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind_name(objs) -> dict:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def container(obj) -> dict:
    return obj["spec"]["template"]["spec"]["containers"][0]


def test_lint(helm, tmp_path):
    p = helm("lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in p.stdout, p.stdout
    p = helm("lint", "--strict", str(CHART), "-f", values_file(tmp_path, ALL_VALUES))
    assert "0 chart(s) failed" in p.stdout, p.stdout


def test_deploy_manifest_is_the_chart_rendered(k8s_tools):
    p = subprocess.run(["sh", str(ROOT / "scripts" / "render-deploy"), "--check"],
                       env=dict(os.environ, HELM=k8s_tools.helm), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-4000:]


def test_values_reach_the_objects(helm, tmp_path):
    out = by_kind_name(docs(helm("template", "ironlb", str(CHART), "-n", NS,
                                 "-f", values_file(tmp_path, ALL_VALUES)).stdout))
    dep, ds = out[("Deployment", "controller")], out[("DaemonSet", "speaker")]
    c, s = container(dep), container(ds)
    assert c["args"] == ["controller", "--metrics-listen", ":7472",
                         "--lb-class", "example.com/ironlb", "--log-level", "debug",
                         "--kube-api-qps", "50", "--kube-api-burst", "100"]
    assert s["args"] == ["speaker", "--node-name", "$(NODE_NAME)", "--metrics-listen", ":7473",
                         "--metrics-host", "$(METALLB_HOST)", "--lb-class", "example.com/ironlb", "--member-port", "7950",
                         "--member-key", "/etc/ml_secret_key/secretkey", "--log-level", "warn",
                         "--kube-api-qps", "0"]
    assert c["image"] == s["image"] == "registry.example/ironlb:1.2.3"
    assert c["imagePullPolicy"] == "Always" and s["imagePullPolicy"] == "IfNotPresent"
    # Helm merges values: the default requests stay.
    assert c["resources"] == {"limits": {"memory": "64Mi"},
                              "requests": {"cpu": "10m", "memory": "16Mi"}}
    pod, spod = dep["spec"]["template"]["spec"], ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "role": "lb"}
    assert pod["tolerations"] == ALL_VALUES["controller"]["tolerations"]
    assert spod["tolerations"] == [{"key": "edge", "operator": "Exists"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert spod["priorityClassName"] == "system-node-critical"
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"a": "b"}
    assert "annotations" not in ds["spec"]["template"]["metadata"]
    assert {(p["name"], p["containerPort"]) for p in s["ports"]} >= \
        {("memberlist-udp", 7950), ("memberlist-tcp", 7950)}
    assert s["volumeMounts"] == [{"name": "memberlist", "mountPath": "/etc/ml_secret_key",
                                  "readOnly": True}]
    assert spod["volumes"][0]["secret"]["secretName"] == "memberlist"

    sm = out[("ServiceMonitor", "controller-monitor")]
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"][0] == {"port": "monitoring", "path": "/metrics",
                                          "interval": "30s"}
    assert ("ServiceMonitor", "speaker-monitor") in out
    assert out[("PodMonitor", "ironlb")]["spec"]["podMetricsEndpoints"][0]["interval"] == "15s"
    rules = out[("PrometheusRule", "ironlb-alerts")]["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == ["MetalLBStaleConfig", "MetalLBConfigNotLoaded",
                                          "MetalLBAddressPoolExhausted",
                                          "MetalLBBGPSessionDown", "Extra"]
    assert 'pool!~"lab-.*"' in rules[2]["expr"]


@pytest.mark.parametrize("values, message", [
    ({"controller": {"logLevel": "all"}},
     'controller.logLevel: "all" is not a level ironlb has; use debug, info, warn or error'),
    ({"speaker": {"memberlist": {"enabled": False}}},
     "speaker.memberlist.enabled: false is not accepted"),
    ({"speaker": {"image": {"repository": ""}}}, "image.repository: empty"),
    ({"controller": {"kubeApi": {"qps": "fast"}}},
     'controller.kubeApi.qps: "fast" is not a number of requests a second (0: no limit)'),
    ({"speaker": {"kubeApi": {"burst": 0}}},
     'speaker.kubeApi.burst: "0" is not a number of requests at once (1 or more)'),
])
def test_values_ironlb_cannot_honour_are_refused(helm, tmp_path, values, message):
    p = helm("template", "ironlb", str(CHART), "-f", values_file(tmp_path, values),
             check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_server_side_dry_run(helm, plane, tmp_path):
    # The Prometheus Operator's kinds are not installed here: those three
    # objects stay off, everything else takes its non-default branch.
    values = json.loads(json.dumps(ALL_VALUES))
    for k in ("serviceMonitor", "podMonitor", "prometheusRule"):
        values["prometheus"][k]["enabled"] = False
    ns = "ironlb-dry-run"
    plane.create_namespace(ns)
    rendered = helm("template", "ironlb", str(CHART), "-n", ns, "--include-crds",
                    "-f", values_file(tmp_path, values)).stdout
    p = plane.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=rendered)
    objs = by_kind_name(docs(rendered))
    # Outside metallb-system both components are told where to read.
    for key in (("Deployment", "controller"), ("DaemonSet", "speaker")):
        args = container(objs[key])["args"]
        assert args[args.index("--namespace") + 1] == ns, args
    kinds = {o["kind"] for o in docs(rendered)}
    assert kinds == {"CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                     "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
                     "DaemonSet"}, kinds
    assert p.stdout.count("serverside-applied (server dry run)") == len(docs(rendered)), p.stdout


def test_install_upgrade_uninstall(helm, plane):
    helm("install", "ironlb", str(CHART), "-n", NS, "--create-namespace")
    dep = plane.kubectl_json("get", "deployment", "controller", "-n", NS)
    ds = plane.kubectl_json("get", "daemonset", "speaker", "-n", NS)
    assert container(dep)["image"] == container(ds)["image"] == "localhost/ironlb:0.1.0"
    assert container(dep)["args"] == ["controller", "--metrics-listen", ":7472"]
    for crd in ("ipaddresspools.metallb.io", "bgppeers.metallb.io",
                "configurationstates.metallb.io"):
        plane.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    # The objects helm created are deploy/ironlb.yaml's, but for its Namespace.
    manifest = docs((ROOT / "deploy" / "ironlb.yaml").read_text())
    for o in manifest:
        if o["kind"] in ("Namespace", "CustomResourceDefinition"):
            continue
        args = ["get", o["kind"].lower(), o["metadata"]["name"]]
        if "namespace" in o["metadata"]:
            args += ["-n", o["metadata"]["namespace"]]
        got = plane.kubectl_json(*args)
        assert got["metadata"]["annotations"]["meta.helm.sh/release-name"] == "ironlb", args

    # Upgrade: a changed value reaches the objects.
    helm("upgrade", "ironlb", str(CHART), "-n", NS, "--set", "speaker.logLevel=debug",
         "--set", "controller.image.tag=v9", "--set", "speaker.image.tag=v9",
         "--set", "loadBalancerClass=example.com/lb")
    dep = plane.kubectl_json("get", "deployment", "controller", "-n", NS)
    ds = plane.kubectl_json("get", "daemonset", "speaker", "-n", NS)
    assert container(dep)["image"] == container(ds)["image"] == "localhost/ironlb:v9"
    assert container(dep)["args"] == ["controller", "--metrics-listen", ":7472",
                                      "--lb-class", "example.com/lb"]
    assert container(ds)["args"][-4:] == ["--lb-class", "example.com/lb",
                                          "--log-level", "debug"]
    hist = json.loads(helm("history", "ironlb", "-n", NS, "-o", "json").stdout)
    assert [h["revision"] for h in hist] == [1, 2]

    # Uninstall: the workloads, RBAC and Services go; the CRDs (and so the
    # users' pools and peers) stay, as Helm leaves crds/ alone.
    helm("uninstall", "ironlb", "-n", NS)
    left = plane.kubectl("get", "deployment,daemonset,service,serviceaccount,role",
                         "-n", NS, "-l", "app=metallb", "-o", "name").stdout.split()
    assert left == []
    p = plane.kubectl("get", "clusterrole", f"{NS}:controller", check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr
    plane.kubectl("get", "crd", "ipaddresspools.metallb.io")


def test_guide_service_monitor_selects_the_metrics_services(plane):
    """The guide's ServiceMonitor, unchanged, applied to deploy/ironlb.yaml's
    objects: its selector (kubectl -l) finds one Service per component in
    its namespace, each has the port it names, and that port leads to the
    metrics port of the Pods the Service selects."""
    sm = next(d for d in docs(GUIDE_MONITORING.read_text()) if d["kind"] == "ServiceMonitor")
    plane.kubectl("apply", "-f", str(ROOT / "deploy" / "ironlb.yaml"))
    ns = sm["metadata"]["namespace"]
    selector = ",".join(f"{k}={v}" for k, v in sm["spec"]["selector"]["matchLabels"].items())
    svcs = plane.kubectl_json("get", "services", "-n", ns, "-l", selector)["items"]
    assert sorted(s["metadata"]["name"] for s in svcs) == \
        ["controller-monitor-service", "speaker-monitor-service"]
    port_name = sm["spec"]["endpoints"][0]["port"]
    workloads = {"controller": plane.kubectl_json("get", "deployment", "controller", "-n", ns),
                 "speaker": plane.kubectl_json("get", "daemonset", "speaker", "-n", ns)}
    seen = set()
    for svc in svcs:
        port = next(p for p in svc["spec"]["ports"] if p["name"] == port_name)
        sel = svc["spec"]["selector"]
        for comp, w in workloads.items():
            labels = w["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in sel.items()):
                seen.add(comp)
                cports = {p["name"]: p["containerPort"] for p in container(w)["ports"]}
                assert port["targetPort"] in cports, (svc["metadata"]["name"], port)
                assert cports[port["targetPort"]] == port["port"]
                # The port ironlb listens on for metrics.
                args = container(w)["args"]
                assert args[args.index("--metrics-listen") + 1] == f":{port['port']}"
    assert seen == {"controller", "speaker"}
