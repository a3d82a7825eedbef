pytest_plugins = [
    "tests.support.postgres",
    "tests.support.kafka",
    "tests.support.wiremock",
    "tests.support.otlp",
]
