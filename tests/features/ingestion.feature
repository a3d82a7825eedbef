Feature: Ingesting a request
  The API answers 201 only once a request is stored, and the relay publishes every stored
  request to the topic, keyed by its ID, even when the broker was down when it arrived.

  Background:
    Given the API runs on Postgres and Kafka

  Scenario: A request is stored, then published with its ID
    When a client posts a request for user "user-1"
    Then the response status is 201
    And the topic holds the request's message, keyed by its ID
    And the database holds the request for user "user-1"
    And the request ends up "published"

  Scenario Outline: A body the API refuses is neither stored nor published
    When a client posts <body>
    Then the response status is <status> with error "<error>"
    When a client posts a request for user "user-2"
    Then the topic holds the request's message and no other
    And the database holds the request and no other

    Examples:
      | body                                 | status | error                  |
      | malformed JSON                       | 400    | malformed_json         |
      | a request without a user ID          | 400    | invalid_request        |
      | a request as text/plain              | 415    | unsupported_media_type |
      | a request larger than the body limit | 413    | body_too_large         |

  Scenario: A request accepted while the broker is down is published when it returns
    Given the broker is down
    When a client posts a request for user "user-3"
    Then the response status is 201
    And the database holds the request for user "user-3"
    And the relay reports that it cannot publish
    And the request is still "accepted", its message unsent
    When the broker is back
    Then the topic holds the request's message, keyed by its ID
    And the request ends up "published"
