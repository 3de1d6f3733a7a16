"""A ``KubeApi`` wrapper whose LIST and WATCH wait while a gate is closed (other verbs pass through).

Integration tests use it to hold an informer back from reconnecting - e.g. while they change objects
behind its back with the apiserver up again - without faking anything the apiserver says.
"""

from __future__ import annotations

import asyncio
import contextlib


class GatedApi:
    def __init__(self, api):
        self._api = api
        self._open = asyncio.Event()
        self._open.set()
        self.waiting = 0  # LIST/WATCH calls held at the closed gate right now
        self.watches = 0  # WATCH calls made through the gate

    def close(self):
        self._open.clear()

    def open(self):
        self._open.set()

    async def _pass(self):
        self.waiting += 1
        try:
            await self._open.wait()
        finally:
            self.waiting -= 1

    async def list(self, *args, **kwargs):
        await self._pass()
        return await self._api.list(*args, **kwargs)

    async def list_pages(self, *args, **kwargs):
        await self._pass()
        async with contextlib.aclosing(self._api.list_pages(*args, **kwargs)) as pages:
            async for page in pages:
                yield page

    async def watch(self, *args, **kwargs):
        self.watches += 1
        await self._pass()
        async with contextlib.aclosing(self._api.watch(*args, **kwargs)) as events:
            async for event in events:
                yield event

    def __getattr__(self, name):
        return getattr(self._api, name)
