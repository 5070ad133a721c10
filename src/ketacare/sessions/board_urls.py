from django.urls import URLPattern, URLResolver, path

from ketacare.sessions import board_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("board/", board_views.board, name="sessions-board"),
    path("board/tiles/", board_views.tiles, name="sessions-board-tiles"),
]
