"""The judge's channel into a student's kernel: requests over a Jupyter comm.

`KernelChannel` sends a request (a JSON document and binary buffers) as a
``comm_msg`` on the kernel's shell channel and waits on the iopub channel for
the kernel's ``comm_msg`` reply to that request. The kernel side is
`grader.kernel.host`, which the channel installs with one silent
``execute_request`` before opening the comm.

Everything that comes back is the student's: a reply is accepted only if it
arrives before the request's deadline, parses as the wire format
(`grader.wire.decode`, strict) and fits `MAX_REPLY_BYTES`; otherwise the
request fails with `ChannelError` and the case scores 0. A kernel that
does not answer by the deadline is interrupted; one that still does not
answer, or dies, raises `KernelUnresponsive` and the job restarts it.
"""

import time
import uuid

from grader import wire

__all__ = [
    "ChannelError",
    "KernelChannel",
    "KernelUnresponsive",
    "MAX_REPLY_BYTES",
    "blocking_client",
    "max_message_context",
]

# Largest reply (JSON and buffers) accepted from the kernel. Replies carry a
# student's outputs and the weights of small models a step updated.
MAX_REPLY_BYTES = 64 << 20
# ZeroMQ drops any message from the kernel larger than this (the parent's
# sockets), which bounds the memory a hostile kernel can make the job use.
MAX_MESSAGE_BYTES = 128 << 20
# Seconds a kernel has to answer after an interrupt before it counts as lost.
INTERRUPT_GRACE = 10.0
# Seconds for installing the host (an import in the kernel).
OPEN_TIMEOUT = 60.0
# How often (seconds) the channel checks that the kernel is alive while waiting.
_POLL = 0.5


class ChannelError(RuntimeError):
    """A request got no valid reply (malformed, oversized, refused, late)."""


class KernelUnresponsive(ChannelError):
    """The kernel died, or did not answer even after an interrupt."""


def max_message_context(asyncio=False):
    """A ZeroMQ context whose sockets drop messages over `MAX_MESSAGE_BYTES`.

    Args:
        asyncio: a `zmq.asyncio.Context` (for an `AsyncKernelManager`).
    """
    import zmq
    import zmq.asyncio

    context = zmq.asyncio.Context() if asyncio else zmq.Context()
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    return context


def blocking_client(km):
    """A started `BlockingKernelClient` of `km`'s kernel with its own bounded sockets."""
    from jupyter_client.blocking import BlockingKernelClient

    client = BlockingKernelClient(context=max_message_context())
    # Its own Session (signed with the kernel's key): a Session shared with
    # another client would see each message twice and refuse it as a replay.
    client.load_connection_info(km.get_connection_info(session=False))
    client.start_channels()
    return client


class KernelChannel:
    """Requests to `grader.kernel.host` in one running kernel.

    Args:
        client: a started `jupyter_client.BlockingKernelClient` of the kernel
            (its own sockets, so the channel never reads the notebook's).
        interrupt: zero-argument callable interrupting the kernel.
        is_alive: zero-argument callable, whether the kernel process lives.
    """

    def __init__(self, client, *, interrupt, is_alive):
        self.client = client
        self._interrupt = interrupt
        self._is_alive = is_alive
        self._comm_id = None

    def open(self):
        """Install the host in the kernel and open its comm (once per kernel)."""
        if self._comm_id is not None:
            return
        from grader.kernel.host import TARGET

        message = self.client.session.msg("execute_request", {
            "code": "import grader.kernel.host as _kerasdl_host\n_kerasdl_host.serve()\n"
                    "del _kerasdl_host",
            "silent": True, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False})
        self.client.shell_channel.send(message)
        self._wait_shell_reply(message["header"]["msg_id"], OPEN_TIMEOUT)
        comm_id = uuid.uuid4().hex
        opened = self.client.session.msg(
            "comm_open", {"comm_id": comm_id, "target_name": TARGET, "data": {}})
        self.client.shell_channel.send(opened)
        self._comm_id = comm_id
        self.request({"op": "hello"}, timeout=OPEN_TIMEOUT)

    def _wait_shell_reply(self, msg_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelUnresponsive("the kernel did not install the grader's host in time")
            try:
                reply = self.client.get_shell_msg(timeout=min(_POLL, remaining))
            except Exception:  # noqa: BLE001 (queue.Empty)
                if not self._is_alive():
                    raise KernelUnresponsive("the kernel died") from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def request(self, data, buffers=(), *, timeout):
        """Send one request; return `(reply, reply_buffers)`.

        Args:
            data: the request's JSON-compatible dict.
            buffers: its binary buffers (bytes).
            timeout: seconds before the kernel is interrupted.

        Raises:
            ChannelError: the reply is malformed, oversized or an error report.
            KernelUnresponsive: no reply even after an interrupt, or the
                kernel died.
        """
        if self._comm_id is None:
            raise ChannelError("the channel is not open")
        message = self.client.session.msg(
            "comm_msg", {"comm_id": self._comm_id, "data": data})
        self.client.session.send(self.client.shell_channel.socket, message,
                                 buffers=list(buffers))
        msg_id = message["header"]["msg_id"]
        reply = self._wait_reply(msg_id, timeout)
        if reply is None:
            self._interrupt()
            reply = self._wait_reply(msg_id, INTERRUPT_GRACE)
            if reply is None:
                raise KernelUnresponsive(
                    f"the kernel did not answer within {timeout + INTERRUPT_GRACE:.0f} s, "
                    "even after an interrupt")
        content = reply.get("content") or {}
        payload = content.get("data")
        reply_buffers = [bytes(b) for b in reply.get("buffers") or []]
        size = sum(len(b) for b in reply_buffers) + len(wire.dumps(payload or {}))
        if size > MAX_REPLY_BYTES:
            raise ChannelError(f"the kernel's reply is {size} bytes, over {MAX_REPLY_BYTES}")
        if not isinstance(payload, dict):
            raise ChannelError("the kernel's reply is not a JSON object")
        if "error" in payload:
            raise ChannelError(f"the kernel could not serve the request: "
                               f"{str(payload['error'])[:300]}")
        return payload, reply_buffers

    def _wait_reply(self, msg_id, timeout):
        """The kernel's comm reply to `msg_id`, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                message = self.client.get_iopub_msg(timeout=min(_POLL, remaining))
            except Exception:  # noqa: BLE001 (queue.Empty)
                if not self._is_alive():
                    raise KernelUnresponsive("the kernel died while answering") from None
                continue
            if (message.get("msg_type") == "comm_msg"
                    and message.get("parent_header", {}).get("msg_id") == msg_id
                    and (message.get("content") or {}).get("comm_id") == self._comm_id):
                return message

    def close(self):
        """Stop the client's channels (the kernel is shut down by its owner)."""
        try:
            self.client.stop_channels()
        except Exception:  # noqa: BLE001 (already closed)
            pass
