"""The deployment files, checked as files: no container engine or cluster runs here.

Every schema comes from a pinned PyPI package, so these tests run offline:
- docker-compose.yml against the Compose Specification schema that check-jsonschema
  vendors (check_jsonschema/builtin_schemas/vendor/compose-spec.json);
- Kubernetes manifests against the JSON schemas generated from Kubernetes' OpenAPI,
  shipped by kubernetes-validate, in strict mode (an unknown field is an error);
- PromQL in the alerts and the dashboard with promql-parser.
Beyond the schemas, they check that the files agree with each other and with the code:
ports, package names, secrets, mount paths and metric names.
"""

import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml

from kameng_common import topology

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"

SERVICES = ["inventory", "orders", "payments", "customers", "risk"]
GATEWAY_PORT = 8000
# the oldest Kubernetes deploy/README.md supports, and the newest the schemas know
K8S_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]

# the metric names the services and the gateway expose (docs/architecture.md)
METRICS = {
    "kameng_rpc_requests_total",
    "kameng_rpc_duration_seconds",
    "kameng_events_handled_total",
    "kameng_event_duration_seconds",
    "kameng_outbox_backlog",
    "kameng_dead_letters",
    "kameng_cards_in_stock",
    "kameng_cards_imported_total",
    "kameng_stock_low",
    "kameng_stock_low_alerts_total",
    "kameng_direct_fulfilments_total",
    "kameng_card_restocks_total",
    "kameng_cards_restocked_total",
    "kameng_late_restock_collections_total",
    "kameng_cards_collected_late_total",
    "kameng_supplier_calls_total",
    "kameng_orders_by_status",
    "kameng_payments_total",
    "kameng_refunds_total",
    "kameng_cards_refunded_total",
    "kameng_staff_refunds",
    "kameng_refund_requests",
    "kameng_reconciliation_rows_total",
    "kameng_reconciliation_mismatches",
    "kameng_wallet_balance_fen",
    "kameng_risk_decisions_total",
    "kameng_customers_by_level",
    "kameng_customers_by_tag",
    "kameng_coupon_uses",
    "kameng_coupon_holds_total",
    "kameng_coupon_holds_swept_total",
    "kameng_agent_money",
    "kameng_agent_earnings",
    "kameng_http_requests_total",
    "kameng_http_request_duration_seconds",
}
HISTOGRAMS = {
    "kameng_rpc_duration_seconds",
    "kameng_event_duration_seconds",
    "kameng_http_request_duration_seconds",
}
QUERYABLE = (
    METRICS | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")} | {"up"}
)  # Prometheus' own, per target


def load_yaml_documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def metrics_port(service):
    """The default port in the service's own config.yaml: the one source of truth."""
    config = (ROOT / "services" / service / "config.yaml").read_text()
    match = re.search(rf"^METRICS_PORT: \$\{{KAMENG_{service.upper()}_METRICS_PORT:(\d+)\}}$", config, re.M)
    assert match, f"services/{service}/config.yaml has no METRICS_PORT default"
    return int(match.group(1))


def metric_names(expr):
    """The metric names a PromQL expression selects; fails on a syntax error."""
    names = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next(m.value for m in node.matchers.matchers if m.name == "__name__")
            names.append(name)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return names


def grafana_to_promql(expr):
    # Grafana's range variables, as Prometheus would receive them
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def alert_rules():
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard():
    return json.loads((DEPLOY / "grafana" / "dashboards" / "kameng.json").read_text())


def dashboard_targets(dashboard):
    return [
        (panel, target)
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel.get("targets", [])
    ]


# ---------------------------------------------------------------- Dockerfiles


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    return [
        tuple(line.strip().split(None, 1))
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


SERVICE_DOCKERFILE = DEPLOY / "service.Dockerfile"


def build_args(text, args):
    """``text`` with the Dockerfile's ``${NAME}`` build arguments replaced by ``args``' values."""
    return re.sub(r"\$\{(\w+)\}", lambda match: args.get(match.group(1), match.group(0)), text)


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_dockerfile_runs_its_service_package(compose, service):
    # the arguments compose builds the service's image with, as deploy/README.md's loop does
    args = compose["services"][service]["build"]["args"]
    assert args == {"SERVICE": service, "PORT": str(metrics_port(service))}
    instructions = [(op, build_args(text, args)) for op, text in dockerfile_instructions(SERVICE_DOCKERFILE)]
    cmd = [json.loads(text) for op, text in instructions if op == "CMD"]
    assert cmd == [["/bin/sh", "-c", 'exec python -m "$KAMENG_SERVICE" --config /app/config.yaml']]
    env = " ".join(text for op, text in instructions if op == "ENV")
    assert f"KAMENG_SERVICE={service}" in env
    assert (ROOT / "services" / service / service / "__main__.py").is_file(), (
        f"CMD runs `python -m {service}` but services/{service}/{service}/__main__.py is missing"
    )

    assert {text.split()[0] for op, text in instructions if op == "FROM"} == {"python:3.11-slim"}
    assert [text for op, text in instructions if op == "EXPOSE"] == [str(metrics_port(service))]
    users = [text for op, text in instructions if op == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0", "the image must run as a numeric non-root user"
    assert "KAMENG_CONFIG=/app/config.yaml" in env
    for op, text in instructions:
        if op == "COPY" and not text.startswith("--from"):
            *sources, _destination = text.split()
            for source in sources:
                assert (ROOT / source).exists(), (
                    f"COPY {source}: not in the build context (the repository root)"
                )


def test_each_service_is_built_from_the_one_service_dockerfile():
    assert not list(ROOT.glob("services/*/Dockerfile")), "the services share deploy/service.Dockerfile"
    readme = (DEPLOY / "README.md").read_text()
    assert "deploy/service.Dockerfile" in readme and "--build-arg SERVICE=" in readme


def test_dockerignore_keeps_what_the_images_copy():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".git" in ignored and ".venv" in ignored and ".kameng" in ignored
    assert not {"libs", "services", "gateway"} & set(ignored)


# ---------------------------------------------------------------- docker-compose


def test_compose_matches_the_compose_specification(compose):
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(compose)
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_has_its_own_database_and_its_port(compose, service):
    definition = compose["services"][service]
    assert definition["build"] == {
        "context": ".",
        "dockerfile": "deploy/service.Dockerfile",
        "args": {"SERVICE": service, "PORT": str(metrics_port(service))},
    }
    url = definition["environment"][f"KAMENG_{service.upper()}_DATABASE_URL"]
    assert url.startswith(f"postgresql+psycopg2://{service}:") and f"@{service}-db:5432/{service}" in url
    assert compose["services"][f"{service}-db"]["environment"]["POSTGRES_DB"] == service
    assert definition["depends_on"][f"{service}-db"] == {"condition": "service_healthy"}
    assert definition["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert str(metrics_port(service)) in " ".join(definition["healthcheck"]["test"])
    assert "KAMENG_AMQP_URI" in definition["environment"]


def test_compose_waits_only_on_services_that_have_a_healthcheck(compose):
    for name, definition in compose["services"].items():
        for dependency, condition in definition.get("depends_on", {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in compose["services"][dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )


def test_compose_build_files_and_mounts_exist(compose):
    for name, definition in compose["services"].items():
        if "build" in definition:
            assert (ROOT / definition["build"]["dockerfile"]).is_file(), f"{name}: no Dockerfile"
        for volume in definition.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_compose_secrets_have_no_defaults_and_are_documented(compose):
    text = COMPOSE.read_text()
    readme = (DEPLOY / "README.md").read_text()
    secret = re.compile(r"PASSWORD|SECRET|KEYS|TOKEN")
    for variable, operator in re.findall(r"\$\{(\w+)(:[?-])?", text):
        if secret.search(variable) and variable != "KAMENG_MOCKPAY_SECRET":  # empty disables mockpay
            assert operator == ":?", f"${{{variable}}} must be required, not defaulted"
        if operator == ":?":
            assert variable in readme, (
                f"{variable} is required by docker-compose.yml but not in deploy/README.md"
            )
    assert compose["secrets"]["metrics-token"] == {"environment": "KAMENG_METRICS_TOKEN"}


def test_compose_gives_each_secret_only_to_its_readers(compose):
    readers = {
        "KAMENG_CARD_KEYS": {"inventory", "orders"},
        "KAMENG_MOCKPAY_SECRET": {"payments"},
        "KAMENG_JWT_SECRET": {"gateway"},
        "KAMENG_METRICS_TOKEN": {"gateway"},
    }
    for variable, expected in readers.items():
        holders = {
            name
            for name, definition in compose["services"].items()
            if variable in (definition.get("environment") or {})
        }
        assert holders == expected, variable


# ---------------------------------------------------------------- RabbitMQ


def test_definitions_declare_the_dead_letter_exchange_as_the_code_does():
    definitions = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    assert {"name": "/"} in definitions["vhosts"]
    exchanges = {exchange["name"]: exchange for exchange in definitions["exchanges"]}
    # the services declare it too (kameng_common.topology): any difference and RabbitMQ refuses them
    dead_letter = exchanges[topology.DEAD_LETTER_EXCHANGE]
    assert (
        dead_letter["type"],
        dead_letter["durable"],
        dead_letter["auto_delete"],
        dead_letter["internal"],
        dead_letter["arguments"],
    ) == ("topic", True, False, False, {})
    # users and passwords are secrets: they come from the environment, never from the repository
    assert "users" not in definitions and "password" not in json.dumps(definitions)


def test_rabbitmq_loads_the_definitions_where_compose_and_kubernetes_put_them(compose):
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    directory = re.search(r"^load_definitions = (\S+)$", conf, re.M).group(1)
    assert directory.endswith("/")

    rabbitmq = compose["services"]["rabbitmq"]
    targets = [volume.split(":")[1] for volume in rabbitmq["volumes"] if "definitions" in volume]
    targets += [config["target"] for config in rabbitmq["configs"]]
    assert sorted(targets) == [directory + "10-topology.json", directory + "20-users.json"]

    statefulset = next(
        doc for doc in load_yaml_documents(K8S / "rabbitmq.yaml") if doc["kind"] == "StatefulSet"
    )
    pod = statefulset["spec"]["template"]["spec"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config")["mountPath"]
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    paths = [
        f"{mount}/{item['path']}"
        for source in config_volume["projected"]["sources"]
        for kind in source.values()
        for item in kind["items"]
    ]
    assert directory + "10-topology.json" in paths and directory + "20-users.json" in paths


def test_compose_rabbitmq_users_are_valid_definitions(compose):
    content = compose["configs"]["rabbitmq-users"]["content"]
    users = json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", content))
    assert [user["name"] for user in users["users"]] == ["kameng"]
    assert "amqp://kameng:" in compose["x-amqp-env"]["KAMENG_AMQP_URI"]


# ---------------------------------------------------------------- Kubernetes


def k8s_manifests():
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


@pytest.mark.parametrize("path", k8s_manifests(), ids=lambda path: path.name)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifest_matches_the_kubernetes_schemas(path, version):
    for resource in load_yaml_documents(path):
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{path.name} {resource['kind']}/{resource['metadata']['name']} "
                f"at {'.'.join(map(str, error.path))}: {error.message}"
            )


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    local = {name for name in listed if not name.startswith("../")}
    # *.example.yaml are templates (the Secrets' placeholders) that must never be applied
    expected = {path.name for path in k8s_manifests() if not path.name.endswith(".example.yaml")}
    assert local == expected
    for directory in (name for name in listed if name.startswith("../")):
        assert (K8S / directory / "kustomization.yaml").is_file()
    for base in [K8S] + [K8S / name for name in listed if name.startswith("../")]:
        generators = yaml.safe_load((base / "kustomization.yaml").read_text()).get("configMapGenerator", [])
        for generator in generators:
            for name in generator["files"]:
                assert (base / name).is_file(), (
                    f"{base.name}/kustomization.yaml generates from missing {name}"
                )


def k8s_resources():
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for path in k8s_manifests()
        if not path.name.endswith(".example.yaml")
        for doc in load_yaml_documents(path)
    }


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_service_deployment(service):
    resources = k8s_resources()
    port = metrics_port(service)
    deployment = resources[("Deployment", service)]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    (container,) = pod["spec"]["containers"]
    assert container["image"] == f"kameng/{service}"
    assert container["ports"] == [{"name": "metrics", "containerPort": port}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "metrics"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert container["envFrom"] == [{"configMapRef": {"name": "kameng-config"}}]
    env = {item["name"]: item for item in container["env"]}
    database = f"KAMENG_{service.upper()}_DATABASE_URL"
    assert env[database]["valueFrom"]["secretKeyRef"] == {"name": "kameng-secrets", "key": database}
    # no service is handed another's database
    assert not {name for name in env if name.endswith("_DATABASE_URL")} - {database}

    ports = resources[("Service", service)]["spec"]["ports"]
    assert ports == [{"name": "metrics", "port": port, "targetPort": "metrics"}]


def secret_references(node):
    """(secret, key) pairs that a resource reads, as env values or volume items."""
    if isinstance(node, list):
        for item in node:
            yield from secret_references(item)
    elif isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]
        secret = node.get("secret")
        if isinstance(secret, dict) and "items" in secret:
            for item in secret["items"]:
                yield secret.get("secretName") or secret["name"], item["key"]
        for value in node.values():
            yield from secret_references(value)


def test_k8s_secret_keys_exist_in_the_template():
    template = {
        doc["metadata"]["name"]: doc["stringData"]
        for doc in load_yaml_documents(K8S / "secrets.example.yaml")
    }
    read = set()
    for (kind, name), resource in k8s_resources().items():
        for secret, key in secret_references(resource):
            assert key in template.get(secret, {}), f"{kind}/{name} reads {secret}/{key}, not in the template"
            read.add((secret, key))
    unread = {(secret, key) for secret, keys in template.items() for key in keys} - read
    assert not unread, f"the template holds keys no pod reads: {sorted(unread)}"


def test_k8s_gateway_scales_with_an_autoscaler():
    resources = k8s_resources()
    deployment = resources[("Deployment", "gateway")]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the gateway's replica count"
    autoscaler = resources[("HorizontalPodAutoscaler", "gateway")]
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    assert autoscaler["spec"]["minReplicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": GATEWAY_PORT}]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"


def test_k8s_rabbitmq_is_a_three_node_statefulset():
    statefulset = k8s_resources()[("StatefulSet", "rabbitmq")]
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["serviceName"] == "rabbitmq-headless"
    images = {c["image"] for c in statefulset["spec"]["template"]["spec"]["containers"]}
    assert images == {"rabbitmq:3.13-management"}
    cluster_conf = (K8S / "rabbitmq-cluster.conf").read_text()
    namespace = yaml.safe_load((K8S / "kustomization.yaml").read_text())["namespace"]
    assert f".rabbitmq-headless.{namespace}.svc.cluster.local" in cluster_conf


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
def test_kustomize_build_matches_the_kubernetes_schemas():
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    resources = [doc for doc in yaml.safe_load_all(built) if doc]
    generated = {doc["metadata"]["name"] for doc in resources if doc["kind"] == "ConfigMap"}
    assert any(name.startswith("rabbitmq-config-") for name in generated)
    assert any(name.startswith("rabbitmq-cluster-") for name in generated)
    for resource in resources:
        assert resource["metadata"].get("namespace", "kameng") == "kameng" or resource["kind"] == "Namespace"
        kubernetes_validate.validate(resource, K8S_VERSIONS[-1], strict=True)
    # every ConfigMap a pod mounts is one the build produced, under its hashed name
    for resource in resources:
        volumes = resource.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
        for volume in volumes:
            for source in volume.get("projected", {}).get("sources", []):
                if "configMap" in source:
                    assert source["configMap"]["name"] in generated


# ---------------------------------------------------------------- Prometheus


def test_prometheus_scrapes_every_service_and_the_gateway(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {job: {t for group in jobs[job]["static_configs"] for t in group["targets"]} for job in jobs}
    assert targets["kameng-services"] == {f"{s}:{metrics_port(s)}" for s in SERVICES}
    assert targets["kameng-gateway"] == {f"gateway:{GATEWAY_PORT}"}
    for job, hosts in targets.items():
        for host in hosts:
            assert host.split(":")[0] in compose["services"], f"{job} scrapes unknown {host}"
    # the bearer token: the compose secret, mounted where Prometheus reads it
    gateway = jobs["kameng-gateway"]
    assert gateway["metrics_path"] == "/metrics"
    assert gateway["authorization"]["credentials_file"] == "/run/secrets/metrics-token"
    assert compose["services"]["prometheus"]["secrets"] == ["metrics-token"]
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]


def test_alerts_cover_what_must_wake_someone(alert_rules):
    by_metric = {name for rule in alert_rules for name in metric_names(rule["expr"])}
    assert {
        "kameng_dead_letters",
        "kameng_outbox_backlog",
        "up",
        "kameng_orders_by_status",
        "kameng_rpc_requests_total",
    } <= by_metric
    stuck = next(rule for rule in alert_rules if "kameng_orders_by_status" in rule["expr"])
    assert 'status="paid"' in stuck["expr"] and stuck["for"] == "5m"


def test_alerts_are_complete_rules_on_known_metrics(alert_rules):
    names = [rule["alert"] for rule in alert_rules]
    assert len(names) == len(set(names))
    for rule in alert_rules:
        assert set(metric_names(rule["expr"])) <= QUERYABLE, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["for"]


# ---------------------------------------------------------------- Grafana


def test_dashboard_panels_each_query_known_metrics(dashboard):
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        exprs = [target.get("expr", "") for target in panel.get("targets", [])]
        assert exprs and all(exprs), f"panel {panel['title']!r} has no query"
        for expr in exprs:
            assert set(metric_names(grafana_to_promql(expr))) <= QUERYABLE, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"


def test_dashboard_shows_every_metric(dashboard):
    def family(name):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        return base if base in HISTOGRAMS else name

    shown = {
        family(name)
        for _panel, target in dashboard_targets(dashboard)
        for name in metric_names(grafana_to_promql(target["expr"]))
    }
    assert shown >= METRICS, f"no panel for {sorted(METRICS - shown)}"


def test_grafana_provisioning_finds_the_dashboards(compose):
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert [source["type"] for source in datasources["datasources"]] == ["prometheus"]
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/kameng.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]
    assert (
        "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"
        in compose["services"]["grafana"]["volumes"]
    )


# ---------------------------------------------------------------- the code behind the names


def test_every_metric_the_dashboards_use_is_defined_in_the_code():
    sources = " ".join(
        path.read_text()
        for base in ("libs", "services", "gateway")
        for path in (ROOT / base).rglob("*.py")
        if "tests" not in path.parts
    )
    missing = sorted(name for name in METRICS if f'"{name}"' not in sources)
    assert not missing, f"no code exposes {missing}"
