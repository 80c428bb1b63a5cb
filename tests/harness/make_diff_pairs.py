#!/usr/bin/env python3
"""Make genuine before/after snapshot pairs for the diff golden tests.

    python3 tests/harness/make_diff_pairs.py --version v1.6.1
    python3 tests/harness/make_diff_pairs.py --nomad /path/to/nomad

One server-only Nomad agent (ACLs on, 127.0.0.1, random ports, temp data dir;
agent code from make_fixtures.py) is given a small base state through the HTTP
API, then one known change at a time. After the base state and after every
change it saves ``GET /v1/operator/snapshot`` (Digest header checked) as
``fixtures/genuine/pairs/NN-<step>.snap``; pair N is (step N-1, step N). The
last step saves the same state twice (HTTP, then ``nomad operator snapshot
save``): a pair with no change at all.

``MANIFEST.json`` lists the snapshots and, per pair, what was done and the
facts Nomad's API reported around it (job versions, token accessor IDs, ...),
so that the golden tests can write the expected diff from the change itself.

By default the run re-executes itself in a loopback-only network namespace
(``unshare -n``), as make_fixtures.py does. The agent is stopped (and its
process group killed) in ``finally``; every wait is bounded. Stdlib only.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "fixtures", "genuine", "pairs")
SCRIPT_REL = "tests/harness/make_diff_pairs.py"

sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (the agent and HTTP helpers)


def state_sha256(body: bytes) -> str:
    """SHA-256 of the archive's state.bin (to tell identical state bytes apart)."""
    import gzip
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(body)), mode="r:") as tar:
        member = tar.extractfile("state.bin")
        return hashlib.sha256(member.read() if member else b"").hexdigest()


def log(*a):
    print("[make_diff_pairs]", *a, file=sys.stderr, flush=True)


# No deployment (max_parallel = 0): a server without clients would keep one
# running, and Nomad refuses to scale a job with an active deployment.
WEB_GROUP_EXTRA = "    update {\n      max_parallel = 0\n    }\n"


def web_hcl(count: int, rev: str) -> str:
    return mf.job_hcl("web", "service", count, group_extra=WEB_GROUP_EXTRA, meta={"rev": rev})


class Run:
    def __init__(self, agent: "mf.Agent", out: str):
        self.a = agent
        self.out = out
        self.snapshots: list[dict] = []
        self.pairs: list[dict] = []

    # -- helpers ------------------------------------------------------------------------------
    def register(self, hcl: str) -> dict:
        parsed = self.a.post("/v1/jobs/parse", {"JobHCL": hcl, "Canonicalize": False})
        ns = parsed.get("Namespace") or "default"
        return self.a.post(f"/v1/jobs?namespace={ns}", {"Job": parsed})

    def job(self, job_id: str, ns: str = "default") -> dict | None:
        try:
            return self.a.get(f"/v1/job/{job_id}?namespace={ns}")
        except mf.ApiError as e:
            if e.status == 404:
                return None
            raise

    def job_facts(self, job_id: str, ns: str = "default") -> dict | None:
        j = self.job(job_id, ns)
        if j is None:
            return None
        vers = self.a.get(f"/v1/job/{job_id}/versions?namespace={ns}")
        return {
            "Version": j["Version"],
            "Stop": j["Stop"],
            "Counts": {g["Name"]: g["Count"] for g in j["TaskGroups"]},
            "Meta": j.get("Meta"),
            "StoredVersions": sorted(v["Version"] for v in vers.get("Versions", [])),
        }

    def settle(self, timeout: float = 30.0) -> str:
        """Bounded wait until no evaluation is pending, then a short pause."""
        deadline = time.monotonic() + timeout
        state = "timeout"
        while time.monotonic() < deadline:
            try:
                evals = self.a.get("/v1/evaluations?namespace=*")
            except (mf.ApiError, OSError, ValueError):
                time.sleep(0.5)
                continue
            if not [e for e in evals if e.get("Status") == "pending"]:
                state = "settled"
                break
            time.sleep(0.5)
        time.sleep(1.0)
        return state

    def snapshot(self, name: str, note: str) -> dict:
        st, headers, body = self.a.request("GET", "/v1/operator/snapshot", timeout=60)
        if st != 200:
            raise RuntimeError(f"snapshot: HTTP {st}")
        digest = headers.get("Digest", "")
        want = "sha-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if digest != want:
            raise RuntimeError(f"snapshot Digest header {digest!r} != {want!r}")
        file = f"{len(self.snapshots):02d}-{name}.snap"
        with open(os.path.join(self.out, file), "wb") as f:
            f.write(body)
        entry = {"file": file, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                 "state_bin_sha256": state_sha256(body),
                 "how": "GET /v1/operator/snapshot (Digest header checked)", "state": note}
        self.snapshots.append(entry)
        log(f"  saved {file} ({len(body)} bytes)")
        return entry

    def cli_snapshot(self, name: str, note: str) -> dict:
        file = f"{len(self.snapshots):02d}-{name}.snap"
        path = os.path.join(self.out, file)
        p = self.a.cli("operator", "snapshot", "save", path, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"nomad operator snapshot save: rc={p.returncode} {p.stderr[-500:]!r}")
        with open(path, "rb") as f:
            body = f.read()
        entry = {"file": file, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                 "state_bin_sha256": state_sha256(body), "how": "nomad operator snapshot save", "state": note}
        self.snapshots.append(entry)
        log(f"  saved {file} ({len(body)} bytes) with the CLI")
        return entry

    def step(self, name: str, change: str, do, facts_before=None, facts_after=None,
             cli: bool = False) -> None:
        log(f"== {name}: {change}")
        before = self.snapshots[-1]["file"]
        fb = facts_before() if facts_before else None
        result = do()
        settled = self.settle()
        fa = facts_after() if facts_after else None
        snap = (self.cli_snapshot if cli else self.snapshot)(name, f"after: {change}")
        pair = {"name": name, "before": before, "after": snap["file"], "change": change,
                "settle": settled}
        facts = {}
        if fb is not None:
            facts["before"] = fb
        if fa is not None:
            facts["after"] = fa
        if isinstance(result, dict) and "_facts" in result:
            facts.update(result["_facts"])
        elif isinstance(result, dict):
            facts["api_response"] = result
        if facts:
            pair["facts"] = facts
        self.pairs.append(pair)

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> None:
        a = self.a
        web = lambda: self.job_facts("web")  # noqa: E731
        a.put("/v1/namespace/team-a", {"Name": "team-a", "Description": "snaptool diff pairs"})
        self.register(web_hcl(2, "1"))
        a.put("/v1/var/nomad/jobs/web", {"Namespace": "default", "Path": "nomad/jobs/web",
                                         "Items": {"db_user": "app"}})
        self.settle()
        self.snapshot("base", "namespace team-a; job default/web (service, group web, count 2, "
                              "meta rev=1, version 0); variable default:nomad/jobs/web")

        self.step("scale", "job default/web group web scaled 2 -> 3 (POST /v1/job/web/scale)",
                  lambda: a.post("/v1/job/web/scale", {"Count": 3, "Target": {"Group": "web"},
                                                        "Message": "snaptool diff pair"}),
                  web, web)
        self.step("new-version", "job default/web re-registered with meta rev=2 (count 3 kept)",
                  lambda: self.register(web_hcl(3, "2")), web, web)
        self.step("stop", "job default/web stopped (DELETE /v1/job/web, purge=false)",
                  lambda: a.delete("/v1/job/web"), web, web)

        def add_var():
            a.put("/v1/var/app/config?namespace=team-a",
                  {"Namespace": "team-a", "Path": "app/config", "Items": {"feature": "on"}})
            return {"_facts": {"variable": {"Namespace": "team-a", "Path": "app/config"}}}
        self.step("variable-added", "variable team-a:app/config added (item feature=on)", add_var)

        def update_var():
            a.put("/v1/var/nomad/jobs/web", {"Namespace": "default", "Path": "nomad/jobs/web",
                                             "Items": {"db_user": "app", "db_password": "hunter2"}})
            return {"_facts": {"variable": {"Namespace": "default", "Path": "nomad/jobs/web"},
                               "plaintext_never_printed": "hunter2"}}
        self.step("variable-updated", "variable default:nomad/jobs/web updated "
                  "(item db_password=hunter2 added)", update_var)

        self.step("namespace-added", "namespace team-b added",
                  lambda: a.put("/v1/namespace/team-b", {"Name": "team-b",
                                                         "Description": "second team"}) and None)
        self.step("node-pool-added", "node pool edge added (no nodes)",
                  lambda: a.put("/v1/node/pools", {"Name": "edge", "Description": "pool pair",
                                                   "Meta": {"tier": "edge"}}) and None)

        def add_token():
            a.put("/v1/acl/policy/readonly", {
                "Name": "readonly", "Description": "snaptool read-only",
                "Rules": 'namespace "default" {\n  policy = "read"\n}\n'})
            tok = a.post("/v1/acl/token", {"Name": "reader", "Type": "client",
                                           "Policies": ["readonly"]})
            return {"_facts": {"token": {"AccessorID": tok["AccessorID"], "Name": "reader"},
                               "secret_never_printed": tok["SecretID"],
                               "note": "throwaway token of a loopback test cluster"}}
        self.step("acl-token-added", "ACL policy readonly and client token reader added", add_token)

        def rename_token():
            tok = self.pairs[-1]["facts"]["token"]
            a.post(f"/v1/acl/token/{tok['AccessorID']}",
                   {"AccessorID": tok["AccessorID"], "Name": "reader-renamed", "Type": "client",
                    "Policies": ["readonly"]})
            return {"_facts": {"token": {"AccessorID": tok["AccessorID"], "Name": "reader-renamed"}}}
        self.step("acl-token-renamed", "ACL token reader renamed to reader-renamed", rename_token)

        self.step("purge", "job default/web purged (DELETE /v1/job/web?purge=true)",
                  lambda: a.delete("/v1/job/web?purge=true"), web, web)

        self.step("resaved", "nothing: the same state saved again with the CLI",
                  lambda: None, cli=True)


def reexec_in_netns(argv) -> None:
    if os.environ.get("SNAPTOOL_IN_NETNS") == "1" or not shutil.which("unshare") or not shutil.which("ip"):
        return
    if subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True).returncode != 0:
        return
    env = dict(os.environ, SNAPTOOL_IN_NETNS="1")
    cmd = ["unshare", "-n", "-m", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable,
           os.path.abspath(__file__), *argv]
    log("re-executing inside a loopback-only network namespace (unshare -n -m)")
    sys.exit(subprocess.run(cmd, env=env).returncode)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--nomad", help="path to a nomad binary")
    g.add_argument("--version", help="build (or reuse) this version with build_nomad.sh")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--no-netns", action="store_true", help="do not isolate in a network namespace")
    args = ap.parse_args(argv)
    if not args.no_netns:
        reexec_in_netns(argv)

    if args.version:
        p = subprocess.run(["bash", os.path.join(HERE, "build_nomad.sh"), args.version],
                           stdout=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"build_nomad.sh failed rc={p.returncode}")
        nomad = p.stdout.strip().splitlines()[-1]
    else:
        nomad = os.path.abspath(args.nomad)
    version, version_text = mf.nomad_version_of(nomad)

    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.endswith(".snap"):
            os.unlink(os.path.join(args.out, old))
    root = tempfile.mkdtemp(prefix="snaptool-pairs-")
    agent = mf.Agent(nomad, root, "pairs", acl=True, client=False)
    try:
        agent.start()
        agent.wait_leader(timeout=60)
        boot = agent.post("/v1/acl/bootstrap")
        agent.token = boot["SecretID"]
        run = Run(agent, args.out)
        run.run()
    finally:
        agent.stop()
        shutil.rmtree(root, ignore_errors=True)

    manifest = {
        "about": ("Genuine before/after snapshot pairs from one real Nomad agent (server only, ACLs "
                  "on, 127.0.0.1), one known change per pair; for tests/test_diff_golden.py. "
                  "Snapshots are the verbatim body of GET /v1/operator/snapshot unless 'how' says "
                  "otherwise. Facts come from Nomad's HTTP API, not from snaptool. Secrets here are "
                  "throwaway values of a loopback test cluster."),
        "nomad_version": version,
        "nomad_version_output": version_text,
        "made_by": {"script": SCRIPT_REL, "command": f"python3 {SCRIPT_REL} --version {version}",
                    "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "network_namespace": os.environ.get("SNAPTOOL_IN_NETNS") == "1"},
        "bootstrap_accessor": boot["AccessorID"],
        "snapshots": run.snapshots,
        "pairs": run.pairs,
    }
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log(f"wrote {len(run.snapshots)} snapshots and {len(run.pairs)} pairs to {args.out}")


if __name__ == "__main__":
    main()
