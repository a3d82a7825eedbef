import urllib3


def new_pool_manager(pool_size: int = 16) -> urllib3.PoolManager:
    """Keeps up to `pool_size` connections per host. urllib3 neither retries nor follows
    redirects by itself: the use case decides what to try again, and when."""
    return urllib3.PoolManager(maxsize=pool_size, retries=False)
