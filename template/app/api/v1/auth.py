"""Registration, login (OAuth2 password form and JSON), token refresh and logout."""

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import AuthServiceDep, UserServiceDep
from app.api.openapi import FORM_BODY_ERRORS, JSON_BODY_ERRORS, problem_responses
from app.api.v1 import PREFIX
from app.schemas.auth import LoginRequest, RefreshRequest, TokenPair
from app.schemas.users import UserCreate, UserRead

router = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])


@router.post(
    "/register",
    operation_id="auth-register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(409, *JSON_BODY_ERRORS),
)
async def register(data: UserCreate, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.register(data))


@router.post(
    "/token",
    operation_id="auth-token",
    response_model=TokenPair,
    responses=problem_responses(401, *FORM_BODY_ERRORS),
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], auth: AuthServiceDep
) -> TokenPair:
    """Log in with the OAuth2 password form (`username` is the e-mail address)."""
    return await auth.login(form.username.strip().lower(), form.password)


@router.post(
    "/login",
    operation_id="auth-login",
    response_model=TokenPair,
    responses=problem_responses(401, *JSON_BODY_ERRORS),
)
async def login(data: LoginRequest, auth: AuthServiceDep) -> TokenPair:
    """Log in with a JSON body."""
    return await auth.login(data.email, data.password)


@router.post(
    "/refresh",
    operation_id="auth-refresh",
    response_model=TokenPair,
    responses=problem_responses(401, *JSON_BODY_ERRORS),
)
async def refresh(data: RefreshRequest, auth: AuthServiceDep) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token is used up."""
    return await auth.refresh(data.refresh_token)


@router.post(
    "/logout",
    operation_id="auth-logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*JSON_BODY_ERRORS),
)
async def logout(data: RefreshRequest, auth: AuthServiceDep) -> None:
    """Revoke the refresh token's whole family: every token of that login stops working."""
    await auth.logout(data.refresh_token)
