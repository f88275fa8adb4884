"""Demo routers, one module per chapter. app.py mounts every module listed in ROUTERS."""

ROUTERS = [
    "course_app.chapters.system",
    "course_app.chapters.ch02_async",
    "course_app.chapters.ch03_background",
    "course_app.chapters.ch04_echo",
    "course_app.chapters.ch05_broadcast",
    "course_app.chapters.ch06_lifecycle",
    "course_app.chapters.ch07_auth",
    "course_app.chapters.scaling",
    "course_app.chapters.ch08_mirage",
    "course_app.chapters.ch08_streams",
]
