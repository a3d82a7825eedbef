Feature: Forwarding a request to the third party
  The worker consumes each published request, gets an access token from the token API, posts a
  ThreeRequest to the third party and records the outcome on the request. It commits a message's
  offset only once the message has an outcome: forwarded, or dead-lettered with the reason.

  Background:
    Given the worker runs on Kafka, Postgres and WireMock

  Scenario: A request is forwarded with a token, recorded and committed
    Given the token API issues the token "token-1"
    And a stored request from user "user-1"
    And the third party accepts it with the token "token-1"
    When the relay publishes it
    Then the request ends up "forwarded"
    And the third party received it 1 time
    And the token API was asked for a token 1 time
    And the worker commits past every message

  Scenario: The token API fails twice, then issues a token
    Given the token API fails twice, then issues the token "token-2"
    And a stored request from user "user-2"
    And the third party accepts it with the token "token-2"
    When the relay publishes it
    Then the request ends up "forwarded"
    And the token API was asked for a token 3 times
    And the third party received it 1 time
    And the worker commits past every message

  Scenario: The third party is unavailable once, then accepts the request
    Given the token API issues the token "token-1"
    And a stored request from user "user-3"
    And the third party answers it 503, then accepts it, with the token "token-1"
    When the relay publishes it
    Then the request ends up "forwarded"
    And the third party received it 2 times
    And the worker commits past every message

  Scenario: The third party refuses the request: it is dead-lettered and marked failed
    Given the token API issues the token "token-1"
    And a stored request from user "user-4"
    And the third party answers it 400 with the token "token-1"
    When the relay publishes it
    Then the request ends up "failed" because "the third party answered 400 Bad Request"
    And the dead-letter topic holds its message with cause "rejected" after 1 attempt
    And the third party received it 1 time
    And the worker commits past every message

  Scenario: A message that is not a request is dead-lettered as it came
    Given the token API issues the token "token-1"
    When a message that is not a request is published
    Then the dead-letter topic holds that message with cause "undecodable" after 0 attempts
    And the third party received nothing
    And the worker commits past every message

  Scenario: An expired token is replaced by exactly one new fetch
    Given the token API issues the token "token-1" for 1 second, then the token "token-2" for an hour
    And a stored request from user "user-5"
    And the third party accepts it with the token "token-1"
    When the relay publishes it
    Then the request ends up "forwarded"
    When the token "token-1" has expired
    And 6 more requests from user "user-6" are stored and accepted with the token "token-2"
    And the relay publishes them
    Then they all end up "forwarded"
    And the token API was asked for a token 2 times
    And the worker commits past every message
