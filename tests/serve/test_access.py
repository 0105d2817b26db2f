"""Who may call the server: the bearer token (every route but /health and the page's own files), the
token's file and variable checked in one line, and the Host allow-list against DNS rebinding."""

from __future__ import annotations

import re

import pytest

from mathpe_jax.serve import Settings
from mathpe_jax.serve.auth import TOKEN_ENV, TokenError, read_token
from mathpe_jax.serve.hosts import allowed_hosts, host_name, normalize_host
from tests.serve.conftest import fixed_answer_app, local_client

TOKEN = "tok-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = {"problem": "12+34="}
# Every route but /health and the page's files, with a body each route accepts.
GUARDED = [
    ("GET", "/models", None), ("GET", "/examples", None), ("GET", "/examples/fixed", None),
    ("GET", "/openapi.json", None), ("GET", "/docs", None), ("GET", "/nowhere", None),
    ("POST", "/solve", {**PROBLEM, "model": "fixed", "max_new_tokens": 4}),
    ("POST", "/compare", {**PROBLEM, "gold": "97"}),
    ("POST", "/attention", {**PROBLEM, "model": "fixed", "completion": "97"}),
]


@pytest.fixture(scope="module")
def guarded():
    with local_client(fixed_answer_app("97", Settings(max_wait_s=0.0, token=TOKEN))) as client:
        yield client


@pytest.fixture(scope="module")
def open_server():
    with local_client(fixed_answer_app("97")) as client:
        yield client


def send(client, method: str, path: str, body: dict | None, **headers: str):
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("method,path,body", GUARDED)
def test_with_a_token_every_route_needs_it(guarded, method, path, body):
    missing = send(guarded, method, path, body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {"error": "this server needs a token: send the header Authorization: Bearer <token>",
                              "field": "Authorization"}
    for header in (f"Bearer {TOKEN[:-1]}x", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "):
        refused = send(guarded, method, path, body, Authorization=header)
        assert refused.status_code == 401, header
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.json()["field"] == "Authorization"
        assert TOKEN not in refused.text
    answered = send(guarded, method, path, body, **BEARER)
    assert answered.status_code == (404 if path == "/nowhere" else 200), answered.text
    assert send(guarded, method, path, body, Authorization=f"bearer {TOKEN}").status_code == answered.status_code


def test_health_and_the_demo_pages_own_files_need_no_token(guarded):
    for path in ("/health", "/", "/static/demo.js", "/static/demo.css"):
        assert guarded.get(path).status_code == 200, path
    page = guarded.get("/").text
    assert 'id="auth"' in page and 'id="token"' in page  # the page asks for the token itself
    assert guarded.get("/static/nothing.js").status_code == 404


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LocalHost.", "127.0.0.1", "127.0.0.1:1",
                                  "[::1]", "[::1]:8000"])
def test_the_loopback_names_are_answered_on_any_port(open_server, host):
    assert open_server.get("/models", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8000", "[::2]:8000", "0.0.0.0:8000", ""])
def test_a_forged_host_is_refused_on_every_route(open_server, guarded, host):
    for client, headers in ((open_server, {}), (guarded, BEARER)):
        for path in ("/models", "/health", "/"):
            refused = client.get(path, headers={"Host": host, **headers})
            assert refused.status_code == 400, (host, path)
            assert refused.json()["field"] == "Host"
        solve = client.post("/solve", json={**PROBLEM, "model": "fixed"}, headers={"Host": host, **headers})
        assert solve.status_code == 400 and "\n" not in solve.json()["error"]
    message = open_server.get("/models", headers={"Host": host}).json()["error"]
    expected = f"Host {host!r} is not a name of this server" if host else "the request has no Host header"
    assert message.startswith(expected)
    assert "--allowed_hosts" in message or not host


def test_allowed_hosts_extend_the_list():
    hosts = allowed_hosts("0.0.0.0", ["login1.cluster.example", "::1", "10.0.0.7"])
    assert hosts == ("0.0.0.0", "localhost", "127.0.0.1", "[::1]", "login1.cluster.example", "10.0.0.7")
    with local_client(fixed_answer_app("97", Settings(max_wait_s=0.0, allowed_hosts=hosts))) as client:
        assert client.get("/models", headers={"Host": "login1.cluster.example:9000"}).status_code == 200
        assert client.get("/models", headers={"Host": "10.0.0.7:8000"}).status_code == 200
        assert client.get("/models", headers={"Host": "login2.cluster.example"}).status_code == 400


@pytest.mark.parametrize("header,host", [("LOCALHOST:80", "localhost"), ("[::1]:8000", "[::1]"), ("a.b.", "a.b"),
                                         ("[::1", "[::1"), ("", "")])
def test_host_name_drops_the_port(header, host):
    assert host_name(header) == host


@pytest.mark.parametrize("name", ["a:80", "http://a", "a/b", "", " ", "[a]:1", "a b", "user@a"])
def test_a_bad_allowed_host_is_refused_by_name(name):
    with pytest.raises(ValueError, match=f"^{re.escape(repr(name))} is not a host name or address"):
        normalize_host(name)


# -- the token's file and variable ---------------------------------------------------------------
def token_file(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_token_comes_from_its_file_or_the_environment(tmp_path):
    assert read_token(str(token_file(tmp_path, TOKEN + "\n")), {}) == TOKEN
    assert read_token(None, {TOKEN_ENV: f" {TOKEN} "}) == TOKEN
    assert read_token(None, {}) is None


@pytest.mark.parametrize(
    "text,mode,message",
    [
        (TOKEN, 0o640, "readable by group (mode 0640); only its owner may read it: chmod 600 "),
        (TOKEN, 0o604, "readable by others (mode 0604)"),
        (TOKEN, 0o644, "readable by group and others (mode 0644)"),
        ("", 0o600, "the file is empty"),
        ("\n \n", 0o600, "the file is empty"),
        ("short", 0o600, "the token has 5 characters, fewer than 16; make one with python -c"),
        ("two words, each long enough", 0o600, "the token may hold visible ASCII characters only"),
    ],
)
def test_a_bad_token_file_is_refused_in_one_line(tmp_path, text, mode, message):
    path = token_file(tmp_path, text, mode)
    with pytest.raises(TokenError) as refused:
        read_token(str(path), {})
    assert str(refused.value).startswith(f"--token_file={path}: ")
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert TOKEN not in str(refused.value)  # no message shows the token


def test_a_missing_or_doubled_token_is_refused(tmp_path):
    with pytest.raises(TokenError, match=r"^--token_file=/no/such/token: no such file$"):
        read_token("/no/such/token", {})
    with pytest.raises(TokenError, match=r": not a regular file$"):
        read_token(str(tmp_path), {})
    with pytest.raises(TokenError, match=f"^the token is given twice, by --token_file=.* and by {TOKEN_ENV}: give one$"):
        read_token(str(token_file(tmp_path, TOKEN)), {TOKEN_ENV: TOKEN})
    with pytest.raises(TokenError, match=f"^{TOKEN_ENV}: the variable is empty$"):
        read_token(None, {TOKEN_ENV: ""})
