"""Static checks of the deployment files in deploy/ (Dockerfile, Kubernetes manifests, compose file).

No Docker engine and no Kubernetes cluster are assumed: this validates what can be validated offline.
Every YAML file parses; kinds and apiVersions are known ones; every tooncrafter container uses the one image
name the kustomization rewrites; the API's port and probes are the port `serve` listens on; every TOONCRAFTER_*
variable the manifests set is one the CLI reads; the KEDA trigger names the stream and consumer group of the
Redis job store's code and the queue URL's database; every kustomization lists every manifest of its
directory; the Dockerfile's stages use one CUDA version (the local nvcc's) and OS, install only packages of
scripts/deps.txt, and run as a non-root user. When Debian's `yamllint` is installed it lints deploy/, and when
`kubectl` is present `kubectl kustomize` renders both kustomizations (each part is skipped, with the reason,
when its tool is missing). The runtime-library script of the Dockerfile runs against the built binary.
"""
import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

try:
    import yaml
except ImportError:
    tclib.skip("PyYAML is not installed in the test venv (tests/python/requirements.txt)")

SRC = os.path.abspath(tclib.SOURCE_DIR)
DEPLOY = os.path.join(SRC, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
if not os.path.isdir(K8S):
    tclib.skip(f"no deploy/k8s directory under {SRC}")

IMAGE = "tooncrafter"  # the image name every tooncrafter container uses before kustomize rewrites it
NAMESPACE = "tooncrafter"

KNOWN_KINDS = {
    ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"), ("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"), ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"), ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
}
# Third-party images the manifests may use; each must carry an explicit tag other than `latest`.
THIRD_PARTY_IMAGES = ("redis:", "quay.io/minio/minio:", "quay.io/minio/mc:")
# Scale-out variables that `serve --queue` / `worker` (issue 6) add; their absence is skipped rather than failed
# only while the CLI has no `worker` subcommand yet.
SCALE_OUT_ENV = {"TOONCRAFTER_QUEUE", "TOONCRAFTER_STORAGE"}
# Packages the runtime stage installs by name besides the computed runtime libraries.
RUNTIME_EXTRAS = {"ca-certificates", "curl"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def yaml_files(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in sorted(files) if f.endswith((".yaml", ".yml"))]
    return sorted(out)


def load_docs(path):
    return [d for d in yaml.safe_load_all(read(path)) if d is not None]


def manifests():
    """(path, document) of every Kubernetes object in deploy/k8s (kustomizations excluded)."""
    out = []
    for p in yaml_files(K8S):
        if os.path.basename(p) == "kustomization.yaml":
            continue
        out += [(p, d) for d in load_docs(p)]
    return out


def objects(kind):
    return [d for _, d in manifests() if d.get("kind") == kind]


def one(kind, name):
    found = [d for d in objects(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def containers(obj, init=True):
    spec = pod_spec(obj)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def config_data():
    return one("ConfigMap", "tooncrafter-config")["data"]


def cli_env_names():
    """TOONCRAFTER_* names the CLI reads: CLI11 envname("...") and std::getenv("...") in cli/*.cpp."""
    names = set()
    cli = os.path.join(SRC, "cli")
    for f in os.listdir(cli):
        if f.endswith((".cpp", ".h")):
            text = read(os.path.join(cli, f))
            names |= set(re.findall(r'envname\(\s*"(TOONCRAFTER_[A-Z0-9_]+)"', text))
            names |= set(re.findall(r'getenv\(\s*"(TOONCRAFTER_[A-Z0-9_]+)"', text))
    return names


def cli_has_worker():
    cli = os.path.join(SRC, "cli")
    return any('add_subcommand("worker"' in read(os.path.join(cli, f)) for f in os.listdir(cli) if f.endswith(".cpp"))


def parse_dockerfile(path):
    """[(INSTRUCTION, argument text)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in read(path).splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def apt_packages(run_text):
    """The package names of `apt-get install ...` in a RUN line (options and shell operators excluded)."""
    pkgs = []
    for part in re.split(r"&&|;|\|\|", run_text):
        words = part.split()
        if "install" not in words or "apt-get" not in words:
            continue
        for w in words[words.index("install") + 1:]:
            if not w.startswith("-"):
                pkgs.append(w)
    return pkgs


def deps_txt():
    names = set()
    for line in read(os.path.join(SRC, "scripts", "deps.txt")).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


class YamlFiles(unittest.TestCase):
    def test_every_yaml_file_parses(self):
        files = yaml_files(DEPLOY)
        self.assertGreater(len(files), 5, files)
        for p in files:
            with self.subTest(file=os.path.relpath(p, SRC)):
                docs = load_docs(p)
                self.assertTrue(docs, "no document")
                for d in docs:
                    self.assertIsInstance(d, dict)

    def test_kinds_and_api_versions_are_known(self):
        for p, d in manifests():
            with self.subTest(file=os.path.relpath(p, SRC), kind=d.get("kind")):
                self.assertIn((d.get("apiVersion"), d.get("kind")), KNOWN_KINDS)
                self.assertTrue(d.get("metadata", {}).get("name"))
                self.assertNotIn("namespace", d["metadata"], "the kustomization sets the namespace")

    def test_yamllint(self):
        exe = shutil.which("yamllint")
        if not exe:
            self.skipTest("yamllint is not installed (Debian package yamllint, scripts/deps.txt)")
        r = subprocess.run([exe, "-c", os.path.join(DEPLOY, "yamllint.yaml"), "-f", "parsable", DEPLOY],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Kustomize(unittest.TestCase):
    def test_every_manifest_is_listed(self):
        kusts = [p for p in yaml_files(K8S) if os.path.basename(p) == "kustomization.yaml"]
        self.assertEqual(len(kusts), 2, kusts)
        for k in kusts:
            d = os.path.dirname(k)
            doc = load_docs(k)[0]
            with self.subTest(kustomization=os.path.relpath(k, SRC)):
                self.assertEqual(doc.get("namespace"), NAMESPACE)
                listed = doc.get("resources", [])
                for r in listed:
                    self.assertTrue(os.path.exists(os.path.join(d, r)), f"listed resource {r} is missing")
                here = sorted(f for f in os.listdir(d) if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")
                self.assertEqual(sorted(set(here) - set(listed)), [], "manifests not listed in resources")

    def test_namespace_object_matches(self):
        self.assertEqual([n["metadata"]["name"] for n in objects("Namespace")], [NAMESPACE])

    def test_image_is_rewritten_in_one_place(self):
        base = load_docs(os.path.join(K8S, "base", "kustomization.yaml"))[0]
        self.assertEqual([i["name"] for i in base.get("images", [])], [IMAGE])

    def test_kubectl_kustomize_renders(self):
        exe = shutil.which("kubectl")
        if not exe:
            self.skipTest("kubectl is not installed: the kustomizations were not rendered")
        for overlay in ("base", "minio"):
            with self.subTest(overlay=overlay):
                r = subprocess.run([exe, "kustomize", os.path.join(K8S, overlay)], capture_output=True, text=True,
                                   timeout=300)
                self.assertEqual(r.returncode, 0, r.stderr)
                docs = [d for d in yaml.safe_load_all(r.stdout) if d]
                kinds = {d["kind"] for d in docs}
                self.assertTrue({"Deployment", "StatefulSet", "ScaledObject", "Service"} <= kinds, kinds)
                new = load_docs(os.path.join(K8S, "base", "kustomization.yaml"))[0]["images"][0]
                want = f'{new["newName"]}:{new["newTag"]}'
                for d in docs:
                    if d["kind"] != "Namespace":
                        self.assertEqual(d["metadata"].get("namespace"), NAMESPACE, d["metadata"]["name"])
                    if d["kind"] in ("Deployment", "StatefulSet", "Job"):
                        for c in containers(d):
                            self.assertFalse(c["image"] == IMAGE or c["image"].startswith(IMAGE + ":"),
                                             f"{c['image']} was not rewritten")
                            if "tooncrafter" in c["image"]:
                                self.assertEqual(c["image"], want)


class Workloads(unittest.TestCase):
    def test_images(self):
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in objects(kind):
                for c in containers(obj):
                    with self.subTest(kind=kind, name=obj["metadata"]["name"], container=c["name"]):
                        img = c["image"]
                        if img.startswith(THIRD_PARTY_IMAGES):
                            self.assertFalse(img.endswith(":latest"), "pin third-party images")
                        else:
                            self.assertEqual(img, IMAGE)

    def test_api_port_and_probes(self):
        port = int(config_data()["TOONCRAFTER_PORT"])
        serve_default = re.search(r"int port = (\d+);", read(os.path.join(SRC, "cli", "commands.h")))
        self.assertIsNotNone(serve_default, "ServeOptions::port not found in cli/commands.h")
        self.assertEqual(port, int(serve_default.group(1)), "ConfigMap port differs from `serve`'s default")
        api = one("Deployment", "tooncrafter-api")
        (c,) = containers(api, init=False)
        self.assertEqual(c["args"][0], "serve")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": port})
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            with self.subTest(probe=probe):
                get = c[probe]["httpGet"]
                self.assertEqual(get["path"], "/health")
                self.assertIn(get["port"], ("http", port))
        svc = one("Service", "tooncrafter-api")
        self.assertEqual(svc["spec"]["selector"], api["spec"]["selector"]["matchLabels"])
        self.assertIn(svc["spec"]["ports"][0]["targetPort"], ("http", port))
        self.assertEqual(api["spec"]["selector"]["matchLabels"].items() <= api["spec"]["template"]["metadata"]
                         ["labels"].items(), True)

    def test_worker_requests_one_gpu_and_leaves_replicas_to_keda(self):
        w = one("Deployment", "tooncrafter-worker")
        self.assertNotIn("replicas", w["spec"], "KEDA owns the worker replica count")
        (c,) = containers(w, init=False)
        self.assertEqual(c["args"][0], "worker")
        self.assertEqual(str(c["resources"]["limits"]["nvidia.com/gpu"]), "1")
        tol = pod_spec(w).get("tolerations", [])
        self.assertIn("nvidia.com/gpu", [t.get("key") for t in tol])
        self.assertTrue(pod_spec(w).get("nodeSelector"))
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        self.assertTrue(mounts["/models"].get("readOnly"))
        self.assertEqual(config_data()["TOONCRAFTER_MODEL_DIR"], "/models")

    def test_model_download_job_fills_the_worker_volume(self):
        job = one("Job", "tooncrafter-model-download")
        (c,) = containers(job)
        self.assertIn("tooncrafter download --dir /models", " ".join(c.get("command", []) + c.get("args", [])))
        w = one("Deployment", "tooncrafter-worker")
        claims = lambda o: {v["persistentVolumeClaim"]["claimName"] for v in pod_spec(o)["volumes"]  # noqa: E731
                            if "persistentVolumeClaim" in v}
        self.assertEqual(claims(job), claims(w))
        self.assertEqual(claims(w), {one("PersistentVolumeClaim", "tooncrafter-models")["metadata"]["name"]})

    def test_pods_run_as_non_root(self):
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in objects(kind):
                with self.subTest(kind=kind, name=obj["metadata"]["name"]):
                    self.assertTrue(pod_spec(obj).get("securityContext", {}).get("runAsNonRoot"))

    def test_secret_references_are_consistent(self):
        # The S3 Secret is created by the operator (docs/deploy.md); every reference names the same one.
        refs = set()
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in objects(kind):
                for c in containers(obj):
                    for e in c.get("envFrom", []):
                        if "secretRef" in e:
                            refs.add(e["secretRef"]["name"])
                    for e in c.get("env", []):
                        ref = e.get("valueFrom", {}).get("secretKeyRef")
                        if ref:
                            refs.add(ref["name"])
                            self.assertIn(ref["key"], ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
        self.assertEqual(refs, {"tooncrafter-s3"})
        self.assertEqual(objects("Secret"), [], "credentials are never committed")

    def test_s3_credential_variables_are_the_ones_the_code_reads(self):
        source = os.path.join(SRC, "server", "artifacts.cpp")
        read_by_code = set(re.findall(r'env\(\s*"(AWS_[A-Z_]+)"', read(source))) if os.path.exists(source) else set()
        if not read_by_code:
            self.skipTest("server/artifacts.cpp reads no AWS_* variable (S3 storage not there yet)")
        self.assertTrue({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= read_by_code, read_by_code)


class EnvNames(unittest.TestCase):
    def used_names(self):
        used = {}
        for k in config_data():
            used.setdefault(k, "configmap.yaml")
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in objects(kind):
                for c in containers(obj):
                    for e in c.get("env", []):
                        used.setdefault(e["name"], obj["metadata"]["name"])
        compose = load_docs(os.path.join(DEPLOY, "compose.yaml"))[0]
        for name, svc in compose["services"].items():
            for k in (svc.get("environment") or {}):
                used.setdefault(k, f"compose.yaml:{name}")
        for word, rest in parse_dockerfile(os.path.join(DEPLOY, "Dockerfile")):
            if word == "ENV":
                for k in re.findall(r"(\w+)=", rest):
                    used.setdefault(k, "Dockerfile")
        return {k: v for k, v in used.items() if k.startswith("TOONCRAFTER_")}

    def test_every_tooncrafter_variable_is_read_by_the_cli(self):
        known = cli_env_names()
        self.assertIn("TOONCRAFTER_PORT", known, "the envname scan found nothing: has cli/ changed shape?")
        missing = {k: v for k, v in self.used_names().items() if k not in known}
        pending = set(missing) & SCALE_OUT_ENV
        hard = {k: v for k, v in missing.items() if k not in SCALE_OUT_ENV}
        self.assertEqual(hard, {}, "TOONCRAFTER_* variables no CLI code reads")
        if pending:
            if cli_has_worker():
                self.fail(f"the CLI has `worker` but does not read {sorted(pending)}")
            self.skipTest(f"{sorted(pending)} belong to `serve --queue`/`worker` (no `worker` subcommand in cli/ yet)")


class Keda(unittest.TestCase):
    def scaled_object(self):
        (so,) = objects("ScaledObject")
        return so

    def test_scales_the_worker_deployment_to_zero(self):
        so = self.scaled_object()
        self.assertEqual(so["apiVersion"], "keda.sh/v1alpha1")
        self.assertEqual(so["spec"]["scaleTargetRef"]["name"], one("Deployment", "tooncrafter-worker")["metadata"]
                         ["name"])
        self.assertEqual(so["spec"]["minReplicaCount"], 0)
        self.assertGreaterEqual(so["spec"]["maxReplicaCount"], 1)
        triggers = so["spec"]["triggers"]
        self.assertTrue(all(t["type"] == "redis-streams" for t in triggers))
        # Scale-from-zero needs the lag trigger (nothing is pending while no worker runs); running jobs the
        # pending-entries one.
        lag = [t for t in triggers if "lagCount" in t["metadata"]]
        self.assertEqual(len(lag), 1)
        self.assertIn("activationLagCount", lag[0]["metadata"])
        self.assertEqual(len([t for t in triggers if "pendingEntriesCount" in t["metadata"]]), 1)
        for t in triggers:
            for v in t["metadata"].values():
                self.assertIsInstance(v, str, "KEDA trigger metadata values are strings")

    def test_redis_address_and_database(self):
        queue = urllib.parse.urlsplit(config_data()["TOONCRAFTER_QUEUE"])
        self.assertEqual(queue.scheme, "redis")
        db = queue.path.strip("/") or "0"
        svc = one("Service", queue.hostname)
        self.assertEqual(svc["spec"]["ports"][0]["port"], queue.port)
        for t in self.scaled_object()["spec"]["triggers"]:
            m = t["metadata"]
            self.assertEqual(m["address"], f"{queue.hostname}.{NAMESPACE}.svc.cluster.local:{queue.port}")
            self.assertEqual(m["databaseIndex"], db)

    def test_stream_and_group_match_the_code(self):
        header = os.path.join(SRC, "server", "redis_job_store.h")
        if not os.path.exists(header):
            self.skipTest("server/redis_job_store.h does not exist yet: stream/group names not checked")
        text = read(header)
        prefix = re.search(r'std::string prefix = "([^"]*)";', text)
        group = re.search(r'std::string group = "([^"]*)";', text)
        self.assertIsNotNone(prefix, "RedisJobStoreOptions::prefix default not found")
        self.assertIsNotNone(group, "RedisJobStoreOptions::group default not found")
        for t in self.scaled_object()["spec"]["triggers"]:
            m = t["metadata"]
            self.assertEqual(m["consumerGroup"], group.group(1))
            self.assertTrue(m["stream"].startswith(prefix.group(1)), m["stream"])
            suffix = m["stream"][len(prefix.group(1)):]
            # The header documents the data model: the stream's key suffix, then "stream".
            self.assertRegex(text, r"//\s+" + re.escape(suffix) + r"\s+stream\b")
            source = os.path.join(SRC, "server", "redis_job_store.cpp")
            if os.path.exists(source):
                self.assertIn(f'key("{suffix}")', read(source), "the stream key is not built from this suffix")


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.instr = parse_dockerfile(os.path.join(DEPLOY, "Dockerfile"))
        cls.stages = {}
        name = None
        for word, rest in cls.instr:
            if word == "FROM":
                m = re.fullmatch(r"(\S+) AS (\S+)", rest, re.IGNORECASE)
                assert m, f"every stage is named: FROM {rest}"
                name = m.group(2)
                cls.stages[name] = {"image": m.group(1), "instr": []}
            elif name:
                cls.stages[name]["instr"].append((word, rest))
        cls.args = {}
        for word, rest in cls.instr:
            if word == "ARG" and "=" in rest:
                k, v = rest.split("=", 1)
                cls.args.setdefault(k, v.strip('"'))

    def stage(self, name, word):
        return [rest for w, rest in self.stages[name]["instr"] if w == word]

    def test_two_stages_on_one_cuda_version_and_os(self):
        self.assertEqual(list(self.stages), ["build", "runtime"])
        self.assertEqual(self.stages["build"]["image"], "nvidia/cuda:${CUDA_VERSION}-devel-${CUDA_OS}")
        self.assertEqual(self.stages["runtime"]["image"], "nvidia/cuda:${CUDA_VERSION}-runtime-${CUDA_OS}")
        self.assertRegex(self.args["CUDA_VERSION"], r"^\d+\.\d+\.\d+$")
        self.assertRegex(self.args["CUDA_OS"], r"^ubuntu\d\d\.\d\d$")

    def test_cuda_version_matches_the_local_toolkit(self):
        nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc")
                                        else None)
        if not nvcc:
            self.skipTest("no nvcc here: the image's CUDA version is not compared with a local toolkit")
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"release (\d+\.\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(".".join(self.args["CUDA_VERSION"].split(".")[:2]), m.group(1))

    def test_build_stage_installs_only_listed_packages(self):
        pkgs = [p for r in self.stage("build", "RUN") for p in apt_packages(r)]
        self.assertGreater(len(pkgs), 10)
        self.assertEqual(sorted(set(pkgs) - deps_txt()), [], "packages not in scripts/deps.txt")
        self.assertIn("libgtest-dev", pkgs, "configuring the project needs GTest")
        run = " ".join(self.stage("build", "RUN"))
        self.assertIn("cmake --preset release", run)
        self.assertIn("-DTC_CUDA=ON", run)
        self.assertIn("deploy/runtime-packages.sh", run)

    def test_runtime_stage(self):
        pkgs = [p for r in self.stage("runtime", "RUN") for p in apt_packages(r)]
        self.assertEqual(sorted(set(pkgs) - RUNTIME_EXTRAS), [], "named runtime packages beyond the known extras")
        self.assertIn("/tmp/runtime-packages.txt", " ".join(self.stage("runtime", "RUN")))
        self.assertTrue(any(c.startswith("--from=build ") for c in self.stage("runtime", "COPY")))
        (user,) = self.stage("runtime", "USER")
        self.assertNotIn(user, ("root", "0"))
        self.assertEqual(self.stage("runtime", "EXPOSE"), [config_data()["TOONCRAFTER_PORT"]])
        env = " ".join(self.stage("runtime", "ENV"))
        self.assertIn(f'TOONCRAFTER_PORT={config_data()["TOONCRAFTER_PORT"]}', env)
        self.assertIn("TOONCRAFTER_MODEL_DIR=/models", env)
        (health,) = self.stage("runtime", "HEALTHCHECK")
        self.assertIn("/health", health)
        self.assertEqual(self.stage("runtime", "ENTRYPOINT"), ['["tooncrafter"]'])
        (vol,) = self.stage("runtime", "VOLUME")
        self.assertIn('"/models"', vol)

    def test_compose_builds_this_dockerfile(self):
        compose = load_docs(os.path.join(DEPLOY, "compose.yaml"))[0]
        services = compose["services"]
        self.assertEqual(services["api"]["build"]["dockerfile"], "deploy/Dockerfile")
        ours = {n: s for n, s in services.items() if "tooncrafter" in s.get("image", "")}
        self.assertEqual({s["image"] for s in ours.values()}, {"tooncrafter:latest"})
        port = config_data()["TOONCRAFTER_PORT"]
        self.assertEqual(services["api"]["ports"], [f"{port}:{port}"])
        for n, s in ours.items():
            if s["command"][0] == "worker":
                dev = s["deploy"]["resources"]["reservations"]["devices"][0]
                self.assertIn("gpu", dev["capabilities"])


class RuntimePackagesScript(unittest.TestCase):
    def test_lists_installed_packages_for_the_built_binary(self):
        if not tclib.BINARY or not os.access(tclib.BINARY, os.X_OK):
            self.skipTest(f"TC_BINARY ({tclib.BINARY!r}) is not a built executable: deploy/runtime-packages.sh not run")
        if not shutil.which("dpkg-query") or not shutil.which("objdump"):
            self.skipTest("dpkg-query or objdump missing: deploy/runtime-packages.sh not run")
        r = subprocess.run(["bash", os.path.join(DEPLOY, "runtime-packages.sh"), tclib.BINARY],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        pkgs = r.stdout.split()
        self.assertIn("libc6", pkgs)
        for p in pkgs:
            self.assertRegex(p, r"^[a-z0-9][a-z0-9.+-]+$")
            self.assertFalse(p.endswith("-dev"), f"{p}: a development package is not a runtime dependency")
        st = subprocess.run(["dpkg-query", "-W", "-f", "${Status}\n"] + pkgs, capture_output=True, text=True,
                            timeout=60)
        self.assertEqual(st.returncode, 0, st.stderr)


if __name__ == "__main__":
    tclib.main()
