"""`ironlb run` follows its manifests directory through what happens to
directories in practice (no root: --no-l2 --no-bgp):

- deleted and created again: watched again (without a signal, and on
  SIGHUP), with /status saying `stale` while it is not watched;
- a Kubernetes ConfigMap volume: visible names are symlinks into `..data`,
  itself a symlink swapped to a new timestamped directory on each change;
- a symlink added to the directory."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import EXAMPLES, ironlb_bin, free_port, poll

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
spec:
  type: LoadBalancer
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  ports:
  - port: 80
"""
BASE = ("ipaddresspools.yaml", "l2-advertisements.yaml")


class Run:
    def __init__(self, tmp_path, d, *extra):
        self.port = free_port()
        self.logpath = tmp_path / "run.log"
        self.log = open(self.logpath, "w")
        self.p = subprocess.Popen([ironlb_bin(), "run", "--manifests", str(d), "--node-name",
                                   "n1", "--no-l2", "--no-bgp", "--listen",
                                   f"127.0.0.1:{self.port}", *extra],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        try:
            poll(lambda: self.status() is not None, 30, "/status")
        except BaseException:
            self.p.kill()
            self.p.wait(timeout=20)
            raise

    def status(self):
        assert self.p.poll() is None, self.logpath.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status",
                                        timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def ingress(self, name):
        st = self.status() or {}
        for s in st.get("services", []):
            if s["name"] == name and s["ingress"]:
                return s["ingress"]
        return None

    def stale(self):
        st = self.status()
        return st is not None and st["config"]["stale"]

    def stop(self):
        if self.p.poll() is not None:
            raise AssertionError(self.logpath.read_text())
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=20)
        self.log.close()
        out = self.logpath.read_text()
        assert rc == 0, out
        for bad in ("Sanitizer", "runtime error:"):
            assert bad not in out, out
        return out


def fill(d, *services):
    d.mkdir(exist_ok=True)
    for f in BASE:
        shutil.copy(EXAMPLES / "dual-stack-l2" / f, d / f)
    for name in services:
        (d / f"{name}.yaml").write_text(SERVICE.format(name=name))


def add(d, name):
    tmp = d / f".{name}.tmp"
    tmp.write_text(SERVICE.format(name=name))
    tmp.rename(d / f"{name}.yaml")


@pytest.mark.parametrize("rearm", ["by itself", "on SIGHUP"])
def test_directory_deleted_and_created_again(tmp_path, rearm):
    d = tmp_path / "m"
    fill(d, "alpha")
    r = Run(tmp_path, d)
    try:
        poll(lambda: r.ingress("alpha"), 20, "alpha's address")
        assert not r.stale()

        shutil.rmtree(d)
        # Unwatched: what is in force may be out of date, and /status says so.
        poll(r.stale, 10, "/status config.stale after the directory went away")
        if rearm == "on SIGHUP":
            fill(d, "alpha")
            r.p.send_signal(signal.SIGHUP)
        else:
            fill(d, "alpha")
        poll(lambda: not r.stale(), 10, "not stale once the directory is back")
        # Watched again: a change made afterwards is applied.
        add(d, "bravo")
        poll(lambda: r.ingress("bravo"), 10, "bravo, added after the re-creation")
        assert r.ingress("alpha")
    finally:
        out = r.stop()
    assert "watching the manifests directory again" in out, out


def test_configmap_style_data_symlink_swap(tmp_path):
    """The layout kubelet gives a mounted ConfigMap: m/KEY -> ..data/KEY,
    m/..data -> ..TIMESTAMP; an update writes a new ..TIMESTAMP directory,
    points a new ..data_tmp symlink at it, renames that over ..data and
    removes the old directory.  The visible names never change."""
    d = tmp_path / "m"
    d.mkdir()

    def version(stamp, *services):
        v = d / f"..2026_12_07_01_0{stamp}_00.00000000{stamp}"
        fill(v)
        (v / "services.yaml").write_text("---\n".join(SERVICE.format(name=n)
                                                      for n in services))
        return v

    v1 = version(1, "alpha")
    os.symlink(v1.name, d / "..data")
    for f in (*BASE, "services.yaml"):
        os.symlink(f"..data/{f}", d / f)
    r = Run(tmp_path, d)
    try:
        poll(lambda: r.ingress("alpha"), 20, "alpha's address")
        assert r.ingress("bravo") is None

        v2 = version(2, "alpha", "bravo")
        os.symlink(v2.name, d / "..data_tmp")
        os.rename(d / "..data_tmp", d / "..data")
        shutil.rmtree(v1)
        poll(lambda: r.ingress("bravo"), 10, "bravo, from the swapped ..data")
        assert r.ingress("alpha")
        assert not r.stale()
    finally:
        r.stop()


def test_symlink_added(tmp_path):
    d = tmp_path / "m"
    fill(d, "alpha")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "charlie.yaml").write_text(SERVICE.format(name="charlie"))
    r = Run(tmp_path, d)
    try:
        poll(lambda: r.ingress("alpha"), 20, "alpha's address")
        os.symlink(elsewhere / "charlie.yaml", d / "charlie.yaml")
        poll(lambda: r.ingress("charlie"), 10, "charlie, a symlink added")
    finally:
        r.stop()
