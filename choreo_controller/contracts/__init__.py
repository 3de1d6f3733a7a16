"""The seams: keys, results, errors, resource descriptors and the Protocols the layers talk through.

Nothing here does IO or imports a third-party client. Every other layer may import this package;
it imports nothing of ours.
"""

from choreo_controller.contracts.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from choreo_controller.contracts.keys import ObjectKey
from choreo_controller.contracts.ports import (
    ApiRequest,
    ApiResponse,
    Clock,
    EventRecorder,
    JsonObj,
    KubeApi,
    LogOptions,
    ObjectList,
    TimerHandle,
    Transport,
    WatchEvent,
)
from choreo_controller.contracts.resources import ApiResource
from choreo_controller.contracts.result import Result, TerminalError

__all__ = [
    "AlreadyExists",
    "ApiError",
    "ApiRequest",
    "ApiResource",
    "ApiResponse",
    "BadRequest",
    "Clock",
    "Conflict",
    "EventRecorder",
    "Forbidden",
    "Gone",
    "Invalid",
    "JsonObj",
    "KubeApi",
    "LogOptions",
    "NotFound",
    "ObjectKey",
    "ObjectList",
    "Result",
    "ServerError",
    "TerminalError",
    "TimerHandle",
    "TooManyRequests",
    "Transport",
    "Unauthorized",
    "Unavailable",
    "WatchEvent",
]
