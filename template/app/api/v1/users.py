"""The signed-in user's own account."""

from fastapi import status

from app.api.deps import CurrentUser, UserServiceDep
from app.api.openapi import DATABASE_ERRORS, JSON_BODY_ERRORS, problem_responses
from app.api.v1 import ResourceRouter
from app.core.principal import Principal
from app.schemas.users import PasswordChange, UserRead

router = ResourceRouter("users", *DATABASE_ERRORS)


@router.get(
    "/me", operation_id="users-me", response_model=UserRead, responses=problem_responses(401)
)
async def read_me(user: CurrentUser) -> Principal:
    return user  # `response_model` shapes it: one validation, not a model built twice


@router.post(
    "/me/password",
    operation_id="users-change-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, *JSON_BODY_ERRORS),
)
async def change_password(data: PasswordChange, user: CurrentUser, users: UserServiceDep) -> None:
    """Change one's own password; every refresh token of the account is revoked."""
    await users.change_password(user, data)
