import time
from tests.conftest import Api

async def test_probe(api: Api) -> None:
    t = time.perf_counter()
    for i in range(20):
        await api.ok("GET", "/v1/users")
    t1 = time.perf_counter()
    for i in range(20):
        await api.user(f"u{i}")
    t2 = time.perf_counter()
    h = api.headers()
    for i in range(20):
        await api.client.get("/v1/users", headers=h)
    t3 = time.perf_counter()
    for i in range(20):
        api.token()
    t4 = time.perf_counter()
    print("get", (t1 - t) / 20, "post", (t2 - t1) / 20, "get-same-token", (t3 - t2) / 20, "mint", (t4-t3)/20)
