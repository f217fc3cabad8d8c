from customers.passwords import Passwords


def test_hashes_with_argon2id_and_verifies(passwords):
    password_hash = passwords.hash("correct horse")
    assert password_hash.startswith("$argon2id$")
    assert "correct horse" not in password_hash
    assert passwords.verify(password_hash, "correct horse")
    assert not passwords.verify(password_hash, "wrong horse")


def test_a_malformed_hash_verifies_nothing(passwords):
    assert not passwords.verify("not a hash", "correct horse")


def test_a_hash_under_other_parameters_needs_rehash(passwords, argon2_parameters):
    password_hash = passwords.hash("correct horse")
    assert not passwords.needs_rehash(password_hash)
    stronger = Passwords(**{**argon2_parameters, "time_cost": 2})
    assert stronger.needs_rehash(password_hash)
    assert stronger.verify(password_hash, "correct horse")  # old hashes still verify


def test_hashing_runs_through_the_offload(argon2_parameters):
    calls = []

    def offload(function, *args):
        calls.append(function.__name__)
        return function(*args)

    passwords = Passwords(**argon2_parameters, offload=offload)
    passwords.verify(passwords.hash("correct horse"), "correct horse")
    assert calls == ["hash", "verify"]


def test_an_unknown_user_costs_a_verification_too(argon2_parameters):
    calls = []

    def offload(function, *args):
        calls.append(function.__name__)
        return function(*args)

    passwords = Passwords(**argon2_parameters, offload=offload)
    passwords.spend_verification_time("guess")
    passwords.spend_verification_time("guess again")
    assert calls == ["verify", "verify"]
