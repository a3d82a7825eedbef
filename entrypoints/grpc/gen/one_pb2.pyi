import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REQUEST_STATUS_UNSPECIFIED: _ClassVar[RequestStatus]
    REQUEST_STATUS_ACCEPTED: _ClassVar[RequestStatus]
    REQUEST_STATUS_PUBLISHED: _ClassVar[RequestStatus]
    REQUEST_STATUS_FORWARDED: _ClassVar[RequestStatus]
    REQUEST_STATUS_FAILED: _ClassVar[RequestStatus]
REQUEST_STATUS_UNSPECIFIED: RequestStatus
REQUEST_STATUS_ACCEPTED: RequestStatus
REQUEST_STATUS_PUBLISHED: RequestStatus
REQUEST_STATUS_FORWARDED: RequestStatus
REQUEST_STATUS_FAILED: RequestStatus

class DataItem(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("user_id", "prompt", "data", "request_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    prompt: str
    data: _containers.RepeatedCompositeFieldContainer[DataItem]
    request_key: str
    def __init__(self, user_id: _Optional[str] = ..., prompt: _Optional[str] = ..., data: _Optional[_Iterable[_Union[DataItem, _Mapping]]] = ..., request_key: _Optional[str] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class OneRequest(_message.Message):
    __slots__ = ("user_id", "prompt", "data")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    prompt: str
    data: _containers.RepeatedCompositeFieldContainer[DataItem]
    def __init__(self, user_id: _Optional[str] = ..., prompt: _Optional[str] = ..., data: _Optional[_Iterable[_Union[DataItem, _Mapping]]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("request_id", "request", "status", "failure_reason", "created_at", "updated_at", "submitted_by")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    request: OneRequest
    status: RequestStatus
    failure_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    submitted_by: str
    def __init__(self, request_id: _Optional[str] = ..., request: _Optional[_Union[OneRequest, _Mapping]] = ..., status: _Optional[_Union[RequestStatus, str]] = ..., failure_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted_by: _Optional[str] = ...) -> None: ...
