"""What every Kameng service needs the same way."""
