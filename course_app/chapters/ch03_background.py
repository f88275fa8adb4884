"""Placeholder: this chapter's demo routes arrive with its chapter."""

from fastapi import APIRouter

router = APIRouter()
