"""Sans-I/O plumbing: an operation is a *plan* that yields commands and receives their replies.

A plan is a generator written once (:mod:`kvsession_valkey.commands`): it builds a command,
hands it over with ``yield``, gets the reply back from the ``yield`` (or an error thrown in at
that point), and returns the parsed result. It never touches a socket, so the same plan serves two shells:

- :class:`Blocking` (``ValkeyBackend``) sends each command with a blocking client;
- :class:`Awaiting` (``AsyncValkeyBackend``) awaits each one on the running event loop.

:func:`operation` marks a plan as a public method. A shell class gets, for every operation, a
real method installed when the class is created, calling ``self._run(plan)``; type checkers see
the same methods through :class:`Operation`'s overloaded ``__get__``: ``T`` on a blocking shell,
a coroutine of ``T`` on an awaiting one, with the plan's own parameters.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, TypeVar, overload

__all__ = ["Awaiting", "Blocking", "Command", "Exchange", "Operation", "Plan", "Reply", "operation"]

P = ParamSpec("P")
T = TypeVar("T")

Reply = Any
"""A decoded RESP reply; its shape depends on the command (and on RESP2 vs RESP3)."""


class Command(NamedTuple):
    """One command a plan asks its shell to send.

    Attributes:
        key: The key an error names (``None``: the server's URL alone).
        args: The command and its arguments, as ``execute_command`` takes them.
        key_count: How many keys the command touches, for "and N more keys" in errors.
        wait: ``(replicas, timeout_ms)``: a write to be followed by ``WAIT`` on the same
            connection (:mod:`kvsession_valkey.durability`); its reply is then the pair
            ``(command's reply, replicas that confirmed)``. ``None``: a plain command.
    """

    key: str | None
    args: tuple[str | bytes | int | float, ...]
    key_count: int = 1
    wait: tuple[int, int] | None = None


Plan = Generator[Command, Reply, T]
"""A plan: yields commands, receives their replies, returns the operation's result."""


class Exchange(Generic[T]):
    """Carries one plan through its commands: a shell iterates over it and answers each command.

    The shell sets :attr:`reply` (or :attr:`failure`) for each command it gets from the loop;
    the next iteration hands that to the plan. When the plan returns, the loop ends and
    :attr:`result` holds its value; an exception the plan does not catch leaves the loop.
    """

    __slots__ = ("_plan", "failure", "reply", "result")

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.reply: Reply = None
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[Command]:
        plan = self._plan
        try:
            command = next(plan)
            while True:
                yield command
                failure, self.failure = self.failure, None
                command = plan.send(self.reply) if failure is None else plan.throw(failure)
        except StopIteration as done:
            self.result: T = done.value


class Operation(Generic[P, T]):
    """A plan declared as a public operation of every shell (see :func:`operation`)."""

    def __init__(self, plan: Callable[Concatenate[Any, P], Plan[T]]) -> None:
        self.plan = plan
        self.__doc__ = plan.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Operation[P, T]: ...

    @overload
    def __get__(self, instance: Blocking, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(self, instance: Awaiting, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        raise TypeError(f"{self.plan.__name__} is a plan: call it through a Blocking or Awaiting shell")


def operation(plan: Callable[Concatenate[Any, P], Plan[T]]) -> Operation[P, T]:
    """Declare ``plan`` as a public operation: ``T`` on a blocking shell, ``await``-able on an async one."""
    return Operation(plan)


def _install(shell: type[Any], method_for: Callable[[Callable[..., Plan[Any]]], Callable[..., Any]]) -> None:
    """Give ``shell`` a real method for every operation it inherits that no base shell has bound yet."""
    for name in dir(shell):
        found = inspect.getattr_static(shell, name)
        if isinstance(found, Operation):
            setattr(shell, name, functools.wraps(found.plan)(method_for(found.plan)))


class Blocking:
    """Base of a shell that sends each command and blocks until its reply: implement :meth:`_run`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install(cls, _blocking_method)

    def _run(self, plan: Plan[T]) -> T:
        """Send the plan's commands, feed it the replies, return its result."""
        raise NotImplementedError


class Awaiting:
    """Base of a shell that awaits each command on the running event loop: implement :meth:`_run`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install(cls, _awaiting_method)

    async def _run(self, plan: Plan[T]) -> T:
        """Send the plan's commands, feed it the replies, return its result."""
        raise NotImplementedError


def _blocking_method(plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    def method(self: Blocking, /, *args: Any, **kwargs: Any) -> Any:
        return self._run(plan(self, *args, **kwargs))

    return method


def _awaiting_method(plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    async def method(self: Awaiting, /, *args: Any, **kwargs: Any) -> Any:
        return await self._run(plan(self, *args, **kwargs))

    return method
