"""hvac against Leash's Vault-compatible API: run by tests/vault_clients.rs.

Arguments: ADDR ROOT_TOKEN LIMITED_TOKEN CLIENT_ID CLIENT_SECRET.
Prints "ok" on success; on the first failure prints "FAIL: ..." and exits 1.
"""
import sys

import hvac
from hvac import exceptions as E

addr, root, limited, client_id, client_secret = sys.argv[1:6]


def check(ok, msg):
    if not ok:
        print("FAIL: " + msg)
        sys.exit(1)


def raises(exc, f, what):
    try:
        f()
    except exc:
        return
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: want {exc.__name__}, got {type(e).__name__}: {e}")
    check(False, f"{what} succeeded")


c = hvac.Client(url=addr, token=root)
check(c.is_authenticated(), "the root token is not authenticated")
check(c.sys.read_health_status(method="GET")["sealed"] is False, "health says sealed")
if "hv/" not in c.sys.list_mounted_secrets_engines()["data"]:
    c.sys.enable_secrets_engine(backend_type="kv", path="hv", options={"version": "2"})
kv = c.secrets.kv.v2


def read(client_kv, path, version=None):
    return client_kv.read_secret_version(path=path, version=version, mount_point="hv", raise_on_deleted_version=True)["data"]


kv.create_or_update_secret(path="app/cfg", secret={"user": "u1", "pw": "p1"}, mount_point="hv")
r = read(kv, "app/cfg")
check(r["data"] == {"user": "u1", "pw": "p1"} and r["metadata"]["version"] == 1, f"read after write: {r}")
kv.create_or_update_secret(path="app/cfg", secret={"user": "u2", "pw": "p2"}, cas=1, mount_point="hv")
raises(E.InvalidRequest, lambda: kv.create_or_update_secret(path="app/cfg", secret={"user": "x"}, cas=1, mount_point="hv"), "a stale cas=1 write")
check(read(kv, "app/cfg")["data"]["user"] == "u2", "a refused CAS write changed the value")
check(read(kv, "app/cfg", 1)["data"]["pw"] == "p1", "version 1 does not read the first value")
kv.patch(path="app/cfg", secret={"pw": "p3"}, mount_point="hv")
check(read(kv, "app/cfg")["data"] == {"user": "u2", "pw": "p3"}, "patch did not merge")
check("cfg" in kv.list_secrets(path="app", mount_point="hv")["data"]["keys"], "list_secrets(app) lacks cfg")
meta = kv.read_secret_metadata(path="app/cfg", mount_point="hv")["data"]
check(meta["current_version"] == 3 and set(meta["versions"]) == {"1", "2", "3"}, f"metadata: {meta}")
kv.update_metadata(path="app/cfg", custom_metadata={"owner": "team-a"}, mount_point="hv")
check(kv.read_secret_metadata(path="app/cfg", mount_point="hv")["data"]["custom_metadata"] == {"owner": "team-a"}, "custom_metadata")
kv.delete_latest_version_of_secret(path="app/cfg", mount_point="hv")
raises(E.InvalidPath, lambda: read(kv, "app/cfg"), "reading a deleted version")
kv.undelete_secret_versions(path="app/cfg", versions=[3], mount_point="hv")
check(read(kv, "app/cfg")["data"]["pw"] == "p3", "undelete did not restore version 3")
kv.destroy_secret_versions(path="app/cfg", versions=[1], mount_point="hv")
raises(E.InvalidPath, lambda: read(kv, "app/cfg", 1), "reading a destroyed version")
check(kv.read_secret_metadata(path="app/cfg", mount_point="hv")["data"]["versions"]["1"]["destroyed"] is True, "version 1 not destroyed")
kv.create_or_update_secret(path="shipping/db", secret={"password": "ship-hvac-secret"}, mount_point="hv")
kv.create_or_update_secret(path="app/tmp", secret={"x": "y"}, mount_point="hv")
kv.delete_metadata_and_all_versions(path="app/tmp", mount_point="hv")
raises(E.InvalidPath, lambda: kv.read_secret_metadata(path="app/tmp", mount_point="hv"), "metadata after delete_metadata_and_all_versions")


def limited_checks(client, who):
    k = client.secrets.kv.v2
    check(read(k, "app/cfg")["data"]["pw"] == "p3", f"{who} cannot read hv/app/cfg, which its policy allows")
    raises(E.Forbidden, lambda: read(k, "shipping/db"), f"{who} reading hv/shipping/db")
    raises(E.Forbidden, lambda: k.create_or_update_secret(path="app/cfg", secret={"pw": "evil"}, mount_point="hv"), f"{who} writing (read-only)")
    keys = k.list_secrets(path="", mount_point="hv")["data"]["keys"]
    check("app/" in keys and "shipping/" not in keys, f"{who}'s list of hv/ is not filtered by its policy: {keys}")


limited_checks(hvac.Client(url=addr, token=limited), "a token with policy no-shipping")
check(hvac.Client(url=addr, token=limited).lookup_token()["data"]["policies"] == ["no-shipping"], "lookup-self policies")
svc = hvac.Client(url=addr)
svc.auth.approle.login(role_id=client_id, secret_id=client_secret)
check(svc.is_authenticated(), "an approle login's token is not authenticated")
limited_checks(svc, "an approle login of identity app-svc")
raises(E.Forbidden, lambda: hvac.Client(url=addr).auth.approle.login(role_id=client_id, secret_id="lsc_wrong"), "an approle login with a wrong secret_id")
print("ok")
