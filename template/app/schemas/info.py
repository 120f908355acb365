"""Body of the service information endpoint."""

from pydantic import BaseModel


class ServiceInfo(BaseModel):
    name: str
    version: str
    environment: str
