"""Several estates (项目) in one installation: which estate a call is for (by the number dialled),
each estate's name, greeting and rules, and which estates a user may see."""
