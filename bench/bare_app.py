"""The HTTP ceiling: a bare FastAPI endpoint with a pydantic body that returns a constant."""

from fastapi import FastAPI
from pydantic import BaseModel


class Body(BaseModel):
    text: str


class Answer(BaseModel):
    label: str
    score: float


app = FastAPI()
CONSTANT = Answer(label="positive", score=1.0)


@app.post("/v1/sentiment")
async def constant(body: Body) -> Answer:
    return CONSTANT
